-- One row per span that reports its own provider call's usage. Agent, workflow and tool spans
-- that carry their children's summed usage are not calls and are not stored here.
CREATE TABLE llm_calls (
    trace_id            VARCHAR NOT NULL,      -- 32 lowercase hex digits
    span_id             VARCHAR NOT NULL,      -- 16 lowercase hex digits
    parent_span_id      VARCHAR,               -- NULL for a root span
    start_time          TIMESTAMPTZ NOT NULL,  -- prices are taken at this instant
    end_time            TIMESTAMPTZ NOT NULL,
    span_name           VARCHAR,
    service_name        VARCHAR,               -- resource service.name
    environment         VARCHAR,               -- deployment.environment.name
    provider            VARCHAR,               -- as the span reported it (gen_ai.provider.name / gen_ai.system)
    operation           VARCHAR,               -- gen_ai.operation.name: chat, embeddings, ...
    request_model       VARCHAR,
    response_model      VARCHAR,
    priced_provider     VARCHAR,               -- genai-prices provider id whose price was used
    priced_model        VARCHAR,               -- genai-prices model id; NULL when unpriced
    response_id         VARCHAR,
    -- Token counts as in the OTel GenAI conventions. NULL = not reported (never guessed as 0).
    input_tokens        BIGINT,                -- all input, cache reads and writes included
    cache_read_tokens   BIGINT,
    cache_write_tokens  BIGINT,
    output_tokens       BIGINT,                -- all output, reasoning included
    reasoning_tokens    BIGINT,
    -- Money in USD. NULL = could not be priced (see pricing_status); never a silent 0.
    cost_usd            DECIMAL(38, 18),
    input_cost_usd      DECIMAL(38, 18),       -- uncached input
    cache_read_cost_usd DECIMAL(38, 18),
    cache_write_cost_usd DECIMAL(38, 18),
    output_cost_usd     DECIMAL(38, 18),       -- reasoning included
    other_cost_usd      DECIMAL(38, 18),       -- per-request fees and other units
    pricing_status      VARCHAR NOT NULL,      -- priced | unknown_model | no_model | no_usage | invalid_usage | price_error
    pricing_detail      VARCHAR,               -- why a call is unpriced, in words
    price_id            VARCHAR,               -- model_prices.price_id of the rates used
    price_version       VARCHAR,               -- catalog version, e.g. genai-prices==0.2.3
    is_duplicate        BOOLEAN NOT NULL DEFAULT false,  -- another row already counts this provider call
    user_id             VARCHAR,
    conversation_id     VARCHAR,
    agent_name          VARCHAR,
    status_code         VARCHAR,               -- span status: UNSET | OK | ERROR
    error_type          VARCHAR,
    ingested_at         TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (trace_id, span_id)            -- writes are insert-or-ignore: OTLP retries are harmless
);

-- Effective-dated rates: one row per (provider, model, price period) that priced at least one call.
CREATE TABLE model_prices (
    price_id        VARCHAR PRIMARY KEY,       -- hash of provider, model, period, rates and catalog version
    provider_id     VARCHAR NOT NULL,
    model_id        VARCHAR NOT NULL,
    model_name      VARCHAR,
    effective_from  DATE,                      -- NULL = since the catalog's first record
    effective_to    DATE,                      -- exclusive; NULL = still current
    input_mtok      DECIMAL(38, 18),           -- base USD per million tokens (tiers in rates)
    cache_read_mtok DECIMAL(38, 18),
    cache_write_mtok DECIMAL(38, 18),
    output_mtok     DECIMAL(38, 18),
    rates           JSON NOT NULL,             -- every rate as the catalog states it, tiers included
    price_version   VARCHAR NOT NULL,
    source          VARCHAR NOT NULL DEFAULT 'genai-prices',
    first_used_at   TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
