-- Money spent on failed calls (span status ERROR), per UTC day, provider, model and error type:
-- a call that failed after the provider billed its tokens (a timeout mid-stream, a rejected tool
-- result) still costs. Unpriced failed calls are counted, never summed as 0.
CREATE OR REPLACE VIEW llm_error_cost AS
WITH raw AS (
    SELECT
        -- The UTC day by integer arithmetic on the instant, whatever the session's time zone:
        -- timezone('UTC', start_time) per call costs several times the whole scan.
        DATE '1970-01-01' + CAST(epoch_us(start_time) // 86400000000 AS INTEGER) AS day,
        priced_provider,
        provider,
        coalesce(priced_model, response_model, request_model)       AS model,
        error_type,
        count(*)                                                    AS failed_calls,
        count(cost_usd)                                             AS priced_calls,
        sum(input_tokens)                                           AS input_tokens,
        sum(output_tokens)                                          AS output_tokens,
        sum(cost_usd)                                               AS cost_usd
    FROM llm_calls
    WHERE NOT is_duplicate AND status_code = 'ERROR'
    GROUP BY ALL
)
SELECT
    day,
    coalesce(priced_provider, llm_provider_id(provider))            AS provider,
    model,
    error_type,
    CAST(sum(failed_calls) AS BIGINT)                               AS failed_calls,
    CAST(sum(failed_calls) - sum(priced_calls) AS BIGINT)           AS unpriced_calls,
    CAST(sum(input_tokens) AS BIGINT)                               AS input_tokens,
    CAST(sum(output_tokens) AS BIGINT)                              AS output_tokens,
    sum(cost_usd)                                                   AS cost_usd
FROM raw
GROUP BY ALL;
