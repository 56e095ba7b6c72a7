-- What `otel-llm-cost reprice` changed. One row per run and model (the model the span named), not
-- per call: a full re-price after a catalog update touches every row, and a per-call audit would
-- copy llm_calls each time; each llm_calls row keeps its own price_id and price_version. Counts and
-- totals leave duplicates out, as the views do (duplicate rows are re-priced all the same).
CREATE TABLE llm_price_audit (
    run_id              VARCHAR NOT NULL,      -- one id per reprice run
    run_at              TIMESTAMPTZ NOT NULL,
    command             VARCHAR NOT NULL,      -- the command and filters, e.g. reprice --unpriced
    provider            VARCHAR,               -- as the span reported it
    model               VARCHAR,               -- coalesce(response_model, request_model)
    calls               BIGINT NOT NULL,       -- calls re-priced
    changed_calls       BIGINT NOT NULL,       -- calls whose cost, status or price changed
    newly_priced        BIGINT NOT NULL,       -- had no cost, now have one
    newly_unpriced      BIGINT NOT NULL,       -- had a cost, now have none
    old_cost_usd        DECIMAL(38, 18),       -- sum before; NULL = none of the calls was priced
    new_cost_usd        DECIMAL(38, 18),       -- sum after; NULL = none of the calls is priced
    old_price_versions  VARCHAR[] NOT NULL,    -- the catalog versions that priced these calls before
    new_price_versions  VARCHAR[] NOT NULL     -- the catalog versions that price them now
);

-- Exchange rates for showing costs in another currency. Costs stay in USD; an amount in the
-- currency is cost_usd * units_per_usd, at the rate of the call's UTC day (or the latest earlier
-- day; none earlier = no conversion, NULL). Loaded by `otel-llm-cost rates load FILE`.
CREATE TABLE exchange_rates (
    currency        VARCHAR NOT NULL,          -- ISO 4217 code, upper case: EUR, GBP, JPY
    day             DATE NOT NULL,             -- the UTC day the rate applies from
    units_per_usd   DECIMAL(20, 10) NOT NULL,  -- units of the currency one US dollar buys (EUR: 0.92)
    source          VARCHAR,                   -- the file it was loaded from
    loaded_at       TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (currency, day)
);
