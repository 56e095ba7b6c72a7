-- One row per trace that made LLM calls. root_span_name is the name of the trace's root span when
-- that root is a stored call or agent run, else NULL: other spans (the HTTP request a trace often
-- starts with) are not stored. first_span_name is the earliest call's span name.
CREATE OR REPLACE VIEW llm_cost_by_trace AS
WITH calls AS (
    SELECT
        trace_id,
        arg_min(service_name, start_time) FILTER (WHERE service_name IS NOT NULL) AS service_name,
        arg_min(span_name, start_time) FILTER (WHERE span_name IS NOT NULL) AS first_span_name,
        min(start_time)                              AS started_at,
        max(end_time)                                AS ended_at,
        count(*)                                     AS calls,
        count(*) - count(cost_usd)                   AS unpriced_calls,
        count(*) FILTER (WHERE status_code = 'ERROR') AS failed_calls,
        sum(input_tokens)                            AS input_tokens,
        sum(output_tokens)                           AS output_tokens,
        sum(cost_usd)                                AS cost_usd,
        sum(cache_read_tokens)                       AS cache_read_tokens,
        sum(reasoning_tokens)                        AS reasoning_tokens
    FROM llm_calls
    WHERE NOT is_duplicate
    GROUP BY trace_id
),
roots AS (
    -- A trace has one root; should a broken exporter send two, the earliest wins.
    SELECT trace_id, arg_min(span_name, start_time) AS root_span_name
    FROM (
        SELECT trace_id, span_name, start_time FROM llm_calls WHERE parent_span_id IS NULL
        UNION ALL
        SELECT trace_id, span_name, start_time FROM llm_agent_runs WHERE parent_span_id IS NULL
    )
    GROUP BY trace_id
)
SELECT
    calls.trace_id, service_name, first_span_name, started_at, ended_at, calls, unpriced_calls, failed_calls,
    input_tokens, output_tokens, cost_usd, roots.root_span_name, cache_read_tokens, reasoning_tokens
FROM calls
LEFT JOIN roots ON roots.trace_id = calls.trace_id;
