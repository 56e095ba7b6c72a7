-- One row per trace that made LLM calls. first_span_name is the earliest call's span name
-- (non-LLM spans such as the trace's root are not stored).
CREATE OR REPLACE VIEW llm_cost_by_trace AS
SELECT
    trace_id,
    any_value(service_name ORDER BY start_time)  AS service_name,
    any_value(span_name ORDER BY start_time)     AS first_span_name,
    min(start_time)                              AS started_at,
    max(end_time)                                AS ended_at,
    count(*)                                     AS calls,
    count(*) - count(cost_usd)                   AS unpriced_calls,
    count(*) FILTER (WHERE status_code = 'ERROR') AS failed_calls,
    sum(input_tokens)                            AS input_tokens,
    sum(output_tokens)                           AS output_tokens,
    sum(cost_usd)                                AS cost_usd
FROM llm_calls
WHERE NOT is_duplicate
GROUP BY trace_id;
