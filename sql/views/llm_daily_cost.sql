-- Cost, calls and tokens per UTC day, provider and model. Duplicates count once; unpriced calls
-- are counted in unpriced_calls and their tokens kept, but never summed into cost as 0: a group
-- whose calls are all unpriced costs NULL. provider is the price catalog's id (priced_provider),
-- and for unpriced calls the span's provider normalised the same way (llm_provider_id), so an
-- unpriced 'gcp.gemini' call sits with the priced 'google' ones.
CREATE OR REPLACE VIEW llm_daily_cost AS
WITH raw AS (
    -- Aggregate first on the stored strings, then normalise the few distinct provider names:
    -- the macro runs once per group, not once per call.
    SELECT
        -- The UTC day by integer arithmetic on the instant, whatever the session's time zone:
        -- timezone('UTC', start_time) per call costs several times the whole scan.
        DATE '1970-01-01' + CAST(epoch_us(start_time) // 86400000000 AS INTEGER) AS day,
        priced_provider,
        provider,
        coalesce(priced_model, response_model, request_model)       AS model,
        count(*)                                                    AS calls,
        count(cost_usd)                                             AS priced_calls,
        sum(input_tokens)                                           AS input_tokens,
        sum(cache_read_tokens)                                      AS cache_read_tokens,
        sum(cache_write_tokens)                                     AS cache_write_tokens,
        sum(output_tokens)                                          AS output_tokens,
        sum(reasoning_tokens)                                       AS reasoning_tokens,
        sum(cost_usd)                                               AS cost_usd
    FROM llm_calls
    WHERE NOT is_duplicate
    GROUP BY ALL
)
SELECT
    day,
    coalesce(priced_provider, llm_provider_id(provider))            AS provider,
    model,
    CAST(sum(calls) AS BIGINT)                                      AS calls,
    CAST(sum(priced_calls) AS BIGINT)                               AS priced_calls,
    CAST(sum(calls) - sum(priced_calls) AS BIGINT)                  AS unpriced_calls,
    CAST(sum(input_tokens) AS BIGINT)                               AS input_tokens,
    CAST(sum(cache_read_tokens) AS BIGINT)                          AS cache_read_tokens,
    CAST(sum(cache_write_tokens) AS BIGINT)                         AS cache_write_tokens,
    CAST(sum(output_tokens) AS BIGINT)                              AS output_tokens,
    CAST(sum(reasoning_tokens) AS BIGINT)                           AS reasoning_tokens,
    sum(cost_usd)                                                   AS cost_usd
FROM raw
GROUP BY ALL;
