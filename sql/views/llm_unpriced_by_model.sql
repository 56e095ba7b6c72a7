-- Unpriced calls per provider, model and reason (pricing_status), with their token totals: what
-- the bill may still hold, and which price override or catalog update would cover the most.
CREATE OR REPLACE VIEW llm_unpriced_by_model AS
SELECT
    llm_provider_id(provider)                       AS provider,
    coalesce(response_model, request_model)         AS model,
    pricing_status,
    count(*)                                        AS calls,
    sum(input_tokens)                               AS input_tokens,
    sum(cache_read_tokens)                          AS cache_read_tokens,
    sum(cache_write_tokens)                         AS cache_write_tokens,
    sum(output_tokens)                              AS output_tokens,
    sum(reasoning_tokens)                           AS reasoning_tokens,
    min(start_time)                                 AS first_call_at,
    max(start_time)                                 AS last_call_at,
    min(pricing_detail)                             AS example_detail
FROM llm_calls
WHERE NOT is_duplicate AND cost_usd IS NULL
GROUP BY ALL;
