-- Each budget's current window (computed at query time, in the budget's time zone): priced spend,
-- limit, percentage, unpriced calls (not in spend, never counted as 0), a linear projection of the
-- spend at the window's end, and the last alert that fired. Duplicates count once. Money stays
-- DECIMAL: DuckDB divides decimals as DOUBLE, so the ratios are taken on integer nano-dollars.
CREATE OR REPLACE VIEW budget_status AS
WITH windows AS (
    SELECT
        b.*,
        CASE b.period
            WHEN 'total' THEN TIMESTAMPTZ '1970-01-01 00:00:00+00'
            ELSE timezone(b.timezone, date_trunc(b.period, timezone(b.timezone, now())))
        END AS window_start,
        CASE b.period
            WHEN 'total' THEN NULL
            ELSE timezone(b.timezone, date_trunc(b.period, timezone(b.timezone, now()))
                 + CASE b.period WHEN 'day' THEN INTERVAL 1 DAY WHEN 'week' THEN INTERVAL 7 DAY ELSE INTERVAL 1 MONTH END)
        END AS window_end
    FROM llm_budgets AS b
),
spend AS (
    SELECT
        w.name,
        coalesce(sum(c.cost_usd), 0)::DECIMAL(38, 18)       AS spend_usd,
        count(c.span_id) - count(c.cost_usd)                AS unpriced_calls,
        count(c.span_id)                                    AS calls
    FROM windows AS w
    LEFT JOIN llm_calls AS c
        ON NOT c.is_duplicate
        AND c.start_time >= w.window_start
        AND (w.window_end IS NULL OR c.start_time < w.window_end)
        AND CASE w.scope
            WHEN 'global' THEN true
            WHEN 'provider' THEN w.scope_value IN (c.provider, c.priced_provider)
            WHEN 'model' THEN w.scope_value IN (c.request_model, c.response_model, c.priced_model)
            WHEN 'service' THEN c.service_name = w.scope_value
            WHEN 'environment' THEN c.environment = w.scope_value
            WHEN 'user' THEN c.user_id = w.scope_value
            WHEN 'conversation' THEN c.conversation_id = w.scope_value
            WHEN 'tag' THEN w.scope_value = CASE w.tag_key
                WHEN 'agent_name' THEN c.agent_name
                WHEN 'customer_id' THEN c.customer_id
                WHEN 'operation' THEN c.operation
                WHEN 'span_name' THEN c.span_name
                WHEN 'scope_name' THEN c.scope_name
                WHEN 'test_id' THEN c.test_id
                ELSE json_extract_string(c.attributes, '$."' || w.tag_key || '"')
            END
            ELSE false
        END
    GROUP BY w.name
),
last_alert AS (
    SELECT
        budget_name,
        max(fired_at)                                       AS last_alert_at,
        arg_max(threshold_pct, fired_at)                    AS last_alert_threshold_pct
    FROM llm_budget_alerts
    GROUP BY budget_name
)
SELECT
    w.name                                                  AS budget,
    w.scope,
    w.scope_value,
    w.tag_key,
    w.period,
    w.timezone,
    w.window_start,
    w.window_end,
    s.spend_usd,
    w.limit_usd,
    CAST((CAST(s.spend_usd * 1000000000 AS HUGEINT) * 10000)
         // CAST(w.limit_usd * 1000000000 AS HUGEINT) AS DECIMAL(38, 0)) * 0.01  AS percent,
    CASE WHEN w.window_end IS NULL THEN NULL
         ELSE CAST(CAST(s.spend_usd * 1000000000 AS HUGEINT) * date_diff('second', w.window_start, w.window_end)
                   // greatest(date_diff('second', w.window_start, now()), 1) AS DECIMAL(38, 0)) * 0.000000001
    END                                                     AS projected_usd,
    s.calls,
    s.unpriced_calls,
    w.thresholds_pct,
    a.last_alert_at,
    a.last_alert_threshold_pct
FROM windows AS w
JOIN spend AS s ON s.name = w.name
LEFT JOIN last_alert AS a ON a.budget_name = w.name;
