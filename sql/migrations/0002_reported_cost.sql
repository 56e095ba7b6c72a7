-- Keep a cost the span already carried (gen_ai.usage.cost.amount, provider-reported) beside the
-- one we computed, and say which one cost_usd counts.
ALTER TABLE llm_calls ADD COLUMN computed_cost_usd DECIMAL(38, 18);  -- ours; NULL when unpriced
ALTER TABLE llm_calls ADD COLUMN reported_cost_usd DECIMAL(38, 18);  -- the span's own, if any
ALTER TABLE llm_calls ADD COLUMN cost_source VARCHAR;                -- computed | reported | NULL (no cost)
-- true when the span reported input_tokens without its cache tokens and we added them back
ALTER TABLE llm_calls ADD COLUMN input_excluded_cache BOOLEAN DEFAULT false;  -- DuckDB cannot add NOT NULL columns
UPDATE llm_calls SET computed_cost_usd = cost_usd, cost_source = 'computed' WHERE cost_usd IS NOT NULL;
