-- Latency (span duration, in milliseconds) per provider and model: median, p95 and p99 with linear
-- interpolation (quantile_cont), over calls that did not fail: a failed call's duration (a fast 429,
-- a timeout) says little about the model. Failed calls are counted beside them.
CREATE OR REPLACE VIEW llm_latency_by_model AS
SELECT
    coalesce(priced_provider, llm_provider_id(provider))                    AS provider,
    coalesce(priced_model, response_model, request_model)                   AS model,
    count(*) FILTER (WHERE status_code IS DISTINCT FROM 'ERROR')            AS calls,
    count(*) FILTER (WHERE status_code = 'ERROR')                           AS failed_calls,
    quantile_cont(duration_ms, 0.5) FILTER (WHERE status_code IS DISTINCT FROM 'ERROR')  AS p50_ms,
    quantile_cont(duration_ms, 0.95) FILTER (WHERE status_code IS DISTINCT FROM 'ERROR') AS p95_ms,
    quantile_cont(duration_ms, 0.99) FILTER (WHERE status_code IS DISTINCT FROM 'ERROR') AS p99_ms,
    max(duration_ms) FILTER (WHERE status_code IS DISTINCT FROM 'ERROR')    AS max_ms
FROM (
    SELECT *, epoch_ms(end_time) - epoch_ms(start_time) AS duration_ms FROM llm_calls WHERE NOT is_duplicate
)
GROUP BY ALL;
