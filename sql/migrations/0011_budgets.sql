-- Budgets: a USD limit on the spend of one scope over a calendar period, with the alert thresholds
-- and the channels that hear about them. Declared with `otel-llm-cost budget add`, `budget sync FILE`
-- (TOML), or in code (LLMCostSpanProcessor(budgets=[Budget(...)]), written here when it starts).
CREATE TABLE llm_budgets (
    name            VARCHAR PRIMARY KEY,
    scope           VARCHAR NOT NULL,          -- global | provider | model | service | environment | user | conversation | tag
    scope_value     VARCHAR,                   -- what the scope must equal; NULL for global
    tag_key         VARCHAR,                   -- for scope tag: an llm_calls column (agent_name, customer_id, ...)
                                               -- or a captured attribute name (llm_calls.attributes)
    period          VARCHAR NOT NULL,          -- day | week (from Monday) | month | total
    timezone        VARCHAR NOT NULL DEFAULT 'UTC',  -- IANA zone where a day, week or month begins
    limit_usd       DECIMAL(38, 18) NOT NULL,  -- > 0
    thresholds_pct  INTEGER[] NOT NULL,        -- ascending percentages of the limit, 1 to 1000
    channels        JSON NOT NULL,             -- list of channel specs, e.g. ["slack:https://...", "email:a@b.c"]
    source          VARCHAR NOT NULL DEFAULT 'cli',  -- cli | file | code: who declared it
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- One row per budget, window and threshold that fired: a restart reads these and does not fire again.
CREATE TABLE llm_budget_alerts (
    budget_name     VARCHAR NOT NULL,
    window_start    TIMESTAMPTZ NOT NULL,      -- the period's first instant (1970-01-01 UTC for total)
    threshold_pct   INTEGER NOT NULL,
    fired_at        TIMESTAMPTZ NOT NULL,
    spend_usd       DECIMAL(38, 18) NOT NULL,  -- priced spend in the window when it fired
    limit_usd       DECIMAL(38, 18) NOT NULL,
    unpriced_calls  BIGINT NOT NULL,           -- calls in the window without a cost, not in spend_usd
    PRIMARY KEY (budget_name, window_start, threshold_pct)
);

-- Every attempt to tell a channel about an alert, delivered or not (secrets masked in target).
CREATE TABLE llm_budget_deliveries (
    budget_name     VARCHAR NOT NULL,
    window_start    TIMESTAMPTZ NOT NULL,
    threshold_pct   INTEGER NOT NULL,
    channel         VARCHAR NOT NULL,          -- webhook | slack | email | otel_log | span_event | callback
    target          VARCHAR,                   -- masked: https://hooks.slack.com/*** , a@b.c, a function name
    delivered       BOOLEAN NOT NULL,
    attempts        INTEGER NOT NULL,
    error           VARCHAR,                   -- the last failure, when not delivered
    finished_at     TIMESTAMPTZ NOT NULL
);
