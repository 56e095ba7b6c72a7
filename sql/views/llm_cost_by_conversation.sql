-- One row per conversation or session (gen_ai.conversation.id, session.id and library-specific
-- spellings); calls without one are left out. Duplicates count once; a conversation whose calls are
-- all unpriced costs NULL.
CREATE OR REPLACE VIEW llm_cost_by_conversation AS
SELECT
    conversation_id,
    arg_min(user_id, start_time) FILTER (WHERE user_id IS NOT NULL) AS user_id,  -- the first one known
    min(start_time)                         AS first_call_at,
    max(end_time)                           AS last_call_at,
    count(*)                                AS calls,
    count(*) - count(cost_usd)              AS unpriced_calls,
    sum(input_tokens)                       AS input_tokens,
    sum(output_tokens)                      AS output_tokens,
    sum(cost_usd)                           AS cost_usd,
    list_sort(list(DISTINCT coalesce(priced_model, response_model, request_model))) AS models,
    count(*) FILTER (WHERE status_code = 'ERROR') AS failed_calls,
    sum(cache_read_tokens)                  AS cache_read_tokens,
    sum(cache_write_tokens)                 AS cache_write_tokens,
    sum(reasoning_tokens)                   AS reasoning_tokens
FROM llm_calls
WHERE NOT is_duplicate AND conversation_id IS NOT NULL
GROUP BY conversation_id;
