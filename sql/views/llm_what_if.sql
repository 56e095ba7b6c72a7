-- What each stored call would have cost on another model, at that model's current base rates in
-- model_prices (effective_to NULL). One row per call, so filter and group as you like:
--   SELECT model, sum(cost_usd), sum(what_if_cost_usd) FROM llm_what_if('gpt-5-mini')
--   WHERE start_time >= DATE '2025-03-01' GROUP BY model;
-- Base rates only: long-context tiers, 1-hour cache writes and per-request fees are ignored
-- (`otel-llm-cost whatif` prices them exactly). A target without a cache price charges cache
-- tokens at its input rate, as genai-prices does. what_if_cost_usd is NULL when model_prices has
-- no current row for the target, or the call reports no usage. Duplicates are left out.
CREATE OR REPLACE MACRO llm_what_if(target_model, target_provider := NULL) AS TABLE
WITH target AS (
    SELECT provider_id, model_id, input_mtok, cache_read_mtok, cache_write_mtok, output_mtok
    FROM model_prices
    WHERE effective_to IS NULL
      AND coalesce(variant, '') = ''   -- standard tier: no batch/flex/priority variant
      AND time_of_day IS NULL          -- not an off-peak window
      AND lower(model_id) = lower(target_model)
      AND (target_provider IS NULL OR provider_id = target_provider)
    -- The catalog version in force first (model_prices keeps older versions' rows); several
    -- providers may sell the model: take one, the same one every time.
    ORDER BY price_version IN (SELECT price_version FROM model_prices_current) DESC,
             provider_id, first_used_at DESC, price_id
    LIMIT 1
)
SELECT
    c.start_time,
    c.trace_id,
    c.span_id,
    coalesce(c.priced_provider, c.provider)                         AS provider,
    coalesce(c.priced_model, c.response_model, c.request_model)     AS model,
    c.input_tokens,
    c.cache_read_tokens,
    c.cache_write_tokens,
    c.output_tokens,
    c.cost_usd,
    t.provider_id                                                   AS target_provider,
    t.model_id                                                      AS target_model,
    -- Rates are USD per million tokens; multiplying by 0.000001 keeps DECIMAL (dividing makes DOUBLE).
    CAST((
        (coalesce(c.input_tokens, 0) - coalesce(c.cache_read_tokens, 0) - coalesce(c.cache_write_tokens, 0))
            * t.input_mtok
        + coalesce(c.cache_read_tokens, 0) * coalesce(t.cache_read_mtok, t.input_mtok)
        + coalesce(c.cache_write_tokens, 0) * coalesce(t.cache_write_mtok, t.input_mtok)
        + coalesce(c.output_tokens, 0) * t.output_mtok
    ) * 0.000001 AS DECIMAL(38, 18))                                AS what_if_cost_usd
FROM llm_calls c
LEFT JOIN target t
    ON c.input_tokens IS NOT NULL OR c.output_tokens IS NOT NULL
WHERE NOT c.is_duplicate;
