-- Details the conventions read from more instrumentation libraries.
-- Of cache_write_tokens, those cached for one hour (Anthropic's ephemeral_1h_input_tokens), which are
-- priced apart from 5-minute writes. NULL = not reported.
ALTER TABLE llm_calls ADD COLUMN cache_write_1h_tokens BIGINT;
-- The customer or tenant the app says the call is for (customer.id and library-specific spellings).
ALTER TABLE llm_calls ADD COLUMN customer_id VARCHAR;
-- The OTel instrumentation scope that emitted the span: which library reported the call.
ALTER TABLE llm_calls ADD COLUMN scope_name VARCHAR;
-- Why a cost the span carried was not kept in reported_cost_usd (negative, absurd, not a number).
ALTER TABLE llm_calls ADD COLUMN reported_cost_error VARCHAR;
-- When is_duplicate: the span whose row counts this provider call (it may be in another trace).
ALTER TABLE llm_calls ADD COLUMN duplicate_of_trace_id VARCHAR;
ALTER TABLE llm_calls ADD COLUMN duplicate_of_span_id VARCHAR;
