ALTER TABLE llm_calls DROP COLUMN input_excluded_cache;
ALTER TABLE llm_calls DROP COLUMN cost_source;
ALTER TABLE llm_calls DROP COLUMN reported_cost_usd;
ALTER TABLE llm_calls DROP COLUMN computed_cost_usd;
