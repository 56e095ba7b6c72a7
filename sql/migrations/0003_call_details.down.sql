ALTER TABLE llm_calls DROP COLUMN duplicate_of_span_id;
ALTER TABLE llm_calls DROP COLUMN duplicate_of_trace_id;
ALTER TABLE llm_calls DROP COLUMN reported_cost_error;
ALTER TABLE llm_calls DROP COLUMN scope_name;
ALTER TABLE llm_calls DROP COLUMN customer_id;
ALTER TABLE llm_calls DROP COLUMN cache_write_1h_tokens;
