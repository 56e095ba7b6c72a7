-- What prompt caching saved, per UTC day, provider and model, over calls that read or wrote the
-- cache. Cached tokens are priced at the uncached input rate of the call's own price (model_prices
-- via price_id) and tier (a long-context tier applies to the whole request, chosen by its
-- input_tokens, as pricing does), then compared with what they cost:
--   cache_read_savings_usd  = cache reads at the input rate - what the reads cost
--   cache_write_premium_usd = what the writes cost - cache writes at the input rate (Anthropic
--                             charges more to write the cache than to read plain input)
--   net_savings_usd         = cache_read_savings_usd - cache_write_premium_usd
-- A price without a cache read (or write) rate billed those tokens as input: they saved nothing.
-- Calls without a price (price_id NULL) are counted in unpriced_calls, never summed as 0.
CREATE OR REPLACE VIEW llm_cache_savings AS
WITH plans AS (
    -- Parse each price's rates once (a few rows), never per call. A rate reads '3' or, tiered,
    -- '3 (>200000: 6, >1000000: 9)': the base rate, then the rate above each input token count.
    SELECT
        price_id,
        rates->>'input_mtok'                        AS input_rate,
        (rates->>'cache_read_mtok') IS NOT NULL     AS has_cache_read_rate,
        (rates->>'cache_write_mtok') IS NOT NULL    AS has_cache_write_rate
    FROM model_prices
    WHERE rates->>'input_mtok' IS NOT NULL
),
tiers AS (
    SELECT price_id, -1 AS above, CAST(split_part(input_rate, ' ', 1) AS DECIMAL(38, 18)) AS input_mtok,
           has_cache_read_rate, has_cache_write_rate
    FROM plans
    UNION ALL
    SELECT price_id, CAST(unnest(regexp_extract_all(input_rate, '>(\d+): ', 1)) AS BIGINT),
           CAST(unnest(regexp_extract_all(input_rate, '>\d+: ([0-9.]+)', 1)) AS DECIMAL(38, 18)),
           has_cache_read_rate, has_cache_write_rate
    FROM plans
),
bands AS (
    -- Tier i applies to requests whose input_tokens is above its start and up to the next start.
    -- The last tier has no end: the largest BIGINT, so the join below has no OR (with one, DuckDB
    -- falls back to a nested-loop join over every call and price: seconds per million calls).
    SELECT *, coalesce(lead(above) OVER (PARTITION BY price_id ORDER BY above), 9223372036854775807) AS up_to,
           CAST(input_mtok * 0.000001 AS DECIMAL(38, 18)) AS input_usd_per_token
    FROM tiers
),
cached AS (
    SELECT
        c.start_time, c.priced_provider, c.provider, c.priced_model, c.response_model, c.request_model,
        c.cache_read_tokens, c.cache_write_tokens, b.price_id IS NULL AS unpriced,
        coalesce(c.cache_read_tokens, 0) * b.input_usd_per_token                    AS read_at_input_usd,
        CASE WHEN b.has_cache_read_rate THEN coalesce(c.cache_read_cost_usd, 0)
             ELSE coalesce(c.cache_read_tokens, 0) * b.input_usd_per_token END      AS read_cost_usd,
        coalesce(c.cache_write_tokens, 0) * b.input_usd_per_token                   AS write_at_input_usd,
        CASE WHEN b.has_cache_write_rate THEN coalesce(c.cache_write_cost_usd, 0)
             ELSE coalesce(c.cache_write_tokens, 0) * b.input_usd_per_token END     AS write_cost_usd
    FROM llm_calls c
    LEFT JOIN bands b
        ON b.price_id = c.price_id
       AND coalesce(c.input_tokens, 0) > b.above
       AND coalesce(c.input_tokens, 0) <= b.up_to
    WHERE NOT c.is_duplicate AND (c.cache_read_tokens > 0 OR c.cache_write_tokens > 0)
),
raw AS (
    SELECT
        -- The UTC day by integer arithmetic on the instant, whatever the session's time zone:
        -- timezone('UTC', start_time) per call costs several times the whole scan.
        DATE '1970-01-01' + CAST(epoch_us(start_time) // 86400000000 AS INTEGER) AS day,
        priced_provider,
        provider,
        coalesce(priced_model, response_model, request_model)       AS model,
        count(*)                                                    AS calls,
        count(*) FILTER (WHERE unpriced)                            AS unpriced_calls,
        sum(cache_read_tokens)                                      AS cache_read_tokens,
        sum(read_cost_usd)                                          AS cache_read_cost_usd,
        sum(read_at_input_usd)                                      AS cache_read_at_input_price_usd,
        sum(cache_write_tokens)                                     AS cache_write_tokens,
        sum(write_cost_usd)                                         AS cache_write_cost_usd,
        sum(write_at_input_usd)                                     AS cache_write_at_input_price_usd
    FROM cached
    GROUP BY ALL
)
SELECT
    day,
    coalesce(priced_provider, llm_provider_id(provider))            AS provider,
    model,
    CAST(sum(calls) AS BIGINT)                                      AS calls,
    CAST(sum(unpriced_calls) AS BIGINT)                             AS unpriced_calls,
    CAST(sum(cache_read_tokens) AS BIGINT)                          AS cache_read_tokens,
    CAST(sum(cache_read_cost_usd) AS DECIMAL(38, 18))               AS cache_read_cost_usd,
    CAST(sum(cache_read_at_input_price_usd) AS DECIMAL(38, 18))     AS cache_read_at_input_price_usd,
    CAST(sum(cache_read_at_input_price_usd) - sum(cache_read_cost_usd) AS DECIMAL(38, 18))
                                                                    AS cache_read_savings_usd,
    CAST(sum(cache_write_tokens) AS BIGINT)                         AS cache_write_tokens,
    CAST(sum(cache_write_cost_usd) AS DECIMAL(38, 18))              AS cache_write_cost_usd,
    CAST(sum(cache_write_cost_usd) - sum(cache_write_at_input_price_usd) AS DECIMAL(38, 18))
                                                                    AS cache_write_premium_usd,
    CAST(sum(cache_read_at_input_price_usd) - sum(cache_read_cost_usd)
         - (sum(cache_write_cost_usd) - sum(cache_write_at_input_price_usd)) AS DECIMAL(38, 18))
                                                                    AS net_savings_usd
FROM raw
GROUP BY ALL;
