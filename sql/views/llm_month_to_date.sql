-- This UTC month's spend so far and a linear projection to its end:
--   projected_cost_usd = cost_usd * (seconds in the month) / (seconds elapsed)
-- with the previous month's total beside it. llm_month_to_date_at(instant) answers for any instant
-- (the report passes its own clock); the view is that macro at now(). A month with no call costs 0;
-- one whose calls are all unpriced costs NULL, and unpriced_calls says how many are not in it.
CREATE OR REPLACE MACRO llm_month_to_date_at(at_instant) AS TABLE
WITH clock AS (
    -- Month arithmetic on UTC wall-clock time: on a TIMESTAMPTZ it would follow the session's time
    -- zone, and a daylight-saving change would move the month's end by an hour.
    SELECT
        CAST(at_instant AS TIMESTAMPTZ)                                                     AS as_of,
        date_trunc('month', timezone('UTC', CAST(at_instant AS TIMESTAMPTZ)))               AS month_start_utc
),
bounds AS (
    SELECT
        as_of,
        timezone('UTC', month_start_utc)                                                    AS month_start,
        timezone('UTC', month_start_utc + INTERVAL 1 MONTH)                                 AS month_end,
        timezone('UTC', month_start_utc - INTERVAL 1 MONTH)                                 AS previous_start,
        -- Whole seconds, at least one: the projection divides by it.
        greatest(CAST(floor(epoch(as_of) - epoch(timezone('UTC', month_start_utc))) AS BIGINT), 1)
                                                                                            AS elapsed_seconds,
        CAST(epoch(month_start_utc + INTERVAL 1 MONTH) - epoch(month_start_utc) AS BIGINT)  AS month_seconds
    FROM clock
),
month AS (
    SELECT
        count(*) FILTER (WHERE c.start_time >= b.month_start)                               AS calls,
        count(c.cost_usd) FILTER (WHERE c.start_time >= b.month_start)                      AS priced_calls,
        sum(c.cost_usd) FILTER (WHERE c.start_time >= b.month_start)                        AS cost_usd,
        count(*) FILTER (WHERE c.start_time < b.month_start)                                AS previous_calls,
        sum(c.cost_usd) FILTER (WHERE c.start_time < b.month_start)                         AS previous_cost_usd
    FROM llm_calls c, bounds b
    WHERE NOT c.is_duplicate AND c.start_time >= b.previous_start AND c.start_time < b.month_end
)
SELECT
    CAST(timezone('UTC', b.month_start) AS DATE)                                            AS month,
    b.as_of,
    m.calls,
    m.priced_calls,
    m.calls - m.priced_calls                                                                AS unpriced_calls,
    CASE WHEN m.calls = 0 THEN CAST(0 AS DECIMAL(38, 18)) ELSE m.cost_usd END               AS cost_usd,
    round(b.elapsed_seconds / 86400, 4)                                                     AS days_elapsed,
    CAST(b.month_seconds // 86400 AS INTEGER)                                               AS days_in_month,
    -- DuckDB divides DECIMALs as DOUBLE; money stays DECIMAL by dividing whole nano-dollars.
    CASE WHEN m.calls = 0 THEN CAST(0 AS DECIMAL(38, 18)) ELSE CAST(
        CAST(CAST(m.cost_usd * 1000000000 AS HUGEINT) * b.month_seconds // b.elapsed_seconds AS DECIMAL(38, 0))
        * CAST(0.000000001 AS DECIMAL(10, 9)) AS DECIMAL(38, 18)) END                       AS projected_cost_usd,
    CASE WHEN m.previous_calls = 0 THEN CAST(0 AS DECIMAL(38, 18)) ELSE m.previous_cost_usd END
                                                                                            AS previous_month_cost_usd
FROM bounds b, month m;

CREATE OR REPLACE VIEW llm_month_to_date AS SELECT * FROM llm_month_to_date_at(now());
