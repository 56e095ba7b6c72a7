-- llm_daily_cost with cost also in another currency: SELECT * FROM llm_daily_cost_in('EUR').
-- Each day converts at its own rate in exchange_rates, or the latest earlier one when the day has
-- none (rate_day says which); before the currency's first rate, cost is NULL, never a guess.
-- Exact to 18 places: one DECIMAL(38) product of 18 + 10 places would overflow past ten billion
-- units, so the whole and the fractional dollars are multiplied apart (as report --currency does).
CREATE OR REPLACE MACRO llm_daily_cost_in(display_currency) AS TABLE
SELECT
    d.*,
    upper(display_currency)                                         AS currency,
    r.day                                                           AS rate_day,
    r.units_per_usd,
    CAST(CAST(trunc(d.cost_usd) AS DECIMAL(38, 0)) * r.units_per_usd
         + CAST(CAST(d.cost_usd - trunc(d.cost_usd) AS DECIMAL(18, 18)) * r.units_per_usd AS DECIMAL(38, 18))
         AS DECIMAL(38, 18))                                       AS cost
FROM llm_daily_cost d
ASOF LEFT JOIN (SELECT day, units_per_usd FROM exchange_rates WHERE currency = upper(display_currency)) r
    ON d.day >= r.day;
