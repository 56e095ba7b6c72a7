-- Table macros are not views: apply_views does not drop them, so the one over exchange_rates goes here.
DROP MACRO TABLE IF EXISTS llm_daily_cost_in;
DROP TABLE exchange_rates;
DROP TABLE llm_price_audit;
