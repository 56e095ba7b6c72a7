-- Cost, calls and tokens per service (resource service.name) and environment
-- (deployment.environment.name). Duplicates count once; a group whose calls are all unpriced costs
-- NULL, and a partly priced one shows the priced sum beside its unpriced_calls.
CREATE OR REPLACE VIEW llm_cost_by_service AS
SELECT
    service_name,
    environment,
    count(*)                                        AS calls,
    count(cost_usd)                                 AS priced_calls,
    count(*) - count(cost_usd)                      AS unpriced_calls,
    count(*) FILTER (WHERE status_code = 'ERROR')   AS failed_calls,
    count(DISTINCT user_id)                         AS users,
    sum(input_tokens)                               AS input_tokens,
    sum(cache_read_tokens)                          AS cache_read_tokens,
    sum(cache_write_tokens)                         AS cache_write_tokens,
    sum(output_tokens)                              AS output_tokens,
    sum(reasoning_tokens)                           AS reasoning_tokens,
    sum(cost_usd)                                   AS cost_usd,
    min(start_time)                                 AS first_call_at,
    max(start_time)                                 AS last_call_at
FROM llm_calls
WHERE NOT is_duplicate
GROUP BY service_name, environment;
