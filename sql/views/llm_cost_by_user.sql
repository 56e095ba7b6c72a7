-- Cost, calls and tokens per user (user.id and library-specific spellings); calls without a user
-- are left out. Duplicates count once; a user whose calls are all unpriced costs NULL.
CREATE OR REPLACE VIEW llm_cost_by_user AS
SELECT
    user_id,
    count(*)                                        AS calls,
    count(cost_usd)                                 AS priced_calls,
    count(*) - count(cost_usd)                      AS unpriced_calls,
    count(*) FILTER (WHERE status_code = 'ERROR')   AS failed_calls,
    count(DISTINCT conversation_id)                 AS conversations,
    sum(input_tokens)                               AS input_tokens,
    sum(cache_read_tokens)                          AS cache_read_tokens,
    sum(cache_write_tokens)                         AS cache_write_tokens,
    sum(output_tokens)                              AS output_tokens,
    sum(reasoning_tokens)                           AS reasoning_tokens,
    sum(cost_usd)                                   AS cost_usd,
    min(start_time)                                 AS first_call_at,
    max(start_time)                                 AS last_call_at
FROM llm_calls
WHERE NOT is_duplicate AND user_id IS NOT NULL
GROUP BY user_id;
