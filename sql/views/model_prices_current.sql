-- The rates in force now: the rows of the catalog version the most recent process priced with
-- (model_price_catalogs.last_used_at), one row per provider, model, variant, period and
-- time-of-day window. Older versions' rows stay in model_prices for audit and re-pricing.
CREATE OR REPLACE VIEW model_prices_current AS
SELECT p.*
FROM model_prices AS p
WHERE p.price_version = (
    SELECT price_version FROM model_price_catalogs ORDER BY last_used_at DESC, loaded_at DESC LIMIT 1
);
