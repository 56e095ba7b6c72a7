-- Cost, calls and tokens per UTC day, provider and model. Duplicates count once; unpriced calls
-- are counted in unpriced_calls and their tokens kept, but never summed into cost as 0.
CREATE OR REPLACE VIEW llm_daily_cost AS
SELECT
    CAST(timezone('UTC', start_time) AS DATE)                   AS day,
    coalesce(priced_provider, provider)                         AS provider,
    coalesce(priced_model, response_model, request_model)       AS model,
    count(*)                                                    AS calls,
    count(cost_usd)                                             AS priced_calls,
    count(*) - count(cost_usd)                                  AS unpriced_calls,
    sum(input_tokens)                                           AS input_tokens,
    sum(cache_read_tokens)                                      AS cache_read_tokens,
    sum(cache_write_tokens)                                     AS cache_write_tokens,
    sum(output_tokens)                                          AS output_tokens,
    sum(reasoning_tokens)                                       AS reasoning_tokens,
    sum(cost_usd)                                               AS cost_usd
FROM llm_calls
WHERE NOT is_duplicate
GROUP BY ALL;
