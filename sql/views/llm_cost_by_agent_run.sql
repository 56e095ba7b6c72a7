-- One row per agent run (or workflow / multi-step generation) with the calls it made. A call
-- belongs to every run of its trace whose time interval contains it, so a sub-agent's calls also
-- count in the run that invoked it. reported_* is what the run span itself claimed: compare, never add.
CREATE OR REPLACE VIEW llm_cost_by_agent_run AS
SELECT
    r.trace_id,
    r.span_id                                   AS run_span_id,
    r.run_kind,
    r.agent_name,
    r.span_name,
    r.service_name,
    r.conversation_id,
    r.user_id,
    r.start_time,
    r.end_time,
    r.status_code,
    count(c.span_id)                            AS calls,
    count(c.span_id) - count(c.cost_usd)        AS unpriced_calls,
    sum(c.input_tokens)                         AS input_tokens,
    sum(c.output_tokens)                        AS output_tokens,
    sum(c.cost_usd)                             AS cost_usd,
    r.reported_input_tokens,
    r.reported_output_tokens
FROM llm_agent_runs r
LEFT JOIN llm_calls c
    ON c.trace_id = r.trace_id
   AND NOT c.is_duplicate
   AND c.start_time >= r.start_time
   AND c.end_time <= r.end_time
GROUP BY ALL;
