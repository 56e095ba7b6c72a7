-- Agent, workflow and multi-step spans (invoke_agent, OpenInference AGENT, Traceloop workflow/agent,
-- Vercel ai.generateText, Langfuse agent). They are not calls: their cost is the sum of the calls
-- they contain (view llm_cost_by_agent_run). The usage they report themselves is kept apart, as
-- a cross-check, never added to totals.
CREATE TABLE llm_agent_runs (
    trace_id                VARCHAR NOT NULL,
    span_id                 VARCHAR NOT NULL,
    parent_span_id          VARCHAR,
    start_time              TIMESTAMPTZ NOT NULL,
    end_time                TIMESTAMPTZ NOT NULL,
    span_name               VARCHAR,
    service_name            VARCHAR,
    run_kind                VARCHAR,       -- invoke_agent | invoke_workflow | AGENT | workflow | ai.generateText | ...
    agent_name              VARCHAR,
    conversation_id         VARCHAR,
    user_id                 VARCHAR,
    status_code             VARCHAR,       -- UNSET | OK | ERROR
    reported_input_tokens   BIGINT,        -- the span's own (aggregated) usage, if it reports one
    reported_output_tokens  BIGINT,
    PRIMARY KEY (trace_id, span_id)
);
