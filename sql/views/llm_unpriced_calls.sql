-- Calls that have no cost, with the reason and the tokens they used: what the bill may still hold.
CREATE OR REPLACE VIEW llm_unpriced_calls AS
SELECT
    start_time,
    trace_id,
    span_id,
    service_name,
    provider,
    request_model,
    response_model,
    pricing_status,
    pricing_detail,
    input_tokens,
    cache_read_tokens,
    cache_write_tokens,
    output_tokens
FROM llm_calls
WHERE NOT is_duplicate AND cost_usd IS NULL;
