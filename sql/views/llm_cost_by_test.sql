-- One row per test (llm_calls.test_id, the pytest node id) that made LLM calls; calls made outside
-- tests are left out. Duplicates count once; unpriced calls are counted in unpriced_calls with their
-- tokens, never summed into cost as 0, so a test whose calls are all unpriced costs NULL.
-- The plugin's default database holds the last run only; one it appends to (--llm-cost-db) sums
-- every run here (the plugin's own summary counts only the calls ingested during its run).
CREATE OR REPLACE VIEW llm_cost_by_test AS
SELECT
    test_id,
    min(start_time)                         AS first_call_at,
    max(end_time)                           AS last_call_at,
    count(*)                                AS calls,
    count(*) - count(cost_usd)              AS unpriced_calls,
    sum(input_tokens)                       AS input_tokens,
    sum(cache_read_tokens)                  AS cache_read_tokens,
    sum(output_tokens)                      AS output_tokens,
    sum(cost_usd)                           AS cost_usd,
    list_sort(list(DISTINCT coalesce(priced_model, response_model, request_model))) AS models
FROM llm_calls
WHERE NOT is_duplicate AND test_id IS NOT NULL
GROUP BY test_id;
