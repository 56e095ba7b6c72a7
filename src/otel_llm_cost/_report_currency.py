"""``report --currency EUR``: every money figure of a report in another currency, converted per UTC day.

Costs are stored in USD. A report in another currency sums each group's USD cost per UTC day in
SQL, converts each day's sum at that day's rate in ``exchange_rates`` (or the latest earlier one,
by an ASOF join, the rule of :mod:`otel_llm_cost.currency`), and adds the converted days up; so a
group spanning days is the sum of its per-day conversions, and nothing is converted per call in
Python. The days before the currency's first rate cannot be converted: their calls and USD cost are
counted apart (:class:`~otel_llm_cost._report_rows.Converted`), never converted at a made-up rate
and never dropped silently.

The USD report is built first, unchanged; :func:`convert_report` then fills in ``converted`` for
each of its rows, with one query per table keyed by that table's own columns. Groups are still
ranked by USD cost, so a report lists the same groups whatever currency it is shown in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Final

import duckdb

from otel_llm_cost import currency as currencies
from otel_llm_cost._report_period import Period
from otel_llm_cost._report_rows import Converted, DailyCost, DayCost, MonthToDate, Report
from otel_llm_cost.report import period_filter, query

# The UTC day of a call from the instant by integer arithmetic, as the views do.
DAY_SQL: Final = "DATE '1970-01-01' + CAST(epoch_us(start_time) // 86400000000 AS INTEGER)"
# The rates of one currency; the one parameter is its code.
RATES_SQL: Final = "(SELECT day, units_per_usd FROM exchange_rates WHERE currency = ?)"
_NANO: Final = Decimal("0.000000001")


def convert_sql(usd: str, rate: str) -> str:
    """SQL converting the DECIMAL(38, 18) amount ``usd`` at ``rate`` (DECIMAL(20, 10)), exact to 18 places.

    One DECIMAL(38) product of 18 + 10 decimal places leaves 10 digits before the point and would
    overflow past ten billion units (about $600,000 in rupiah), so the whole and the fractional
    dollars are multiplied apart: each product fits, and only the last of 28 places is rounded.
    """
    return (
        f"(CAST(trunc({usd}) AS DECIMAL(38, 0)) * {rate}"
        f" + CAST(CAST({usd} - trunc({usd}) AS DECIMAL(18, 18)) * {rate} AS DECIMAL(38, 18)))"
    )


def converted_columns(prefix: str = "") -> str:
    """The aggregates making a :class:`Converted` from rows ``p`` (``priced_calls``, ``cost_usd``, one
    per group and day) joined to their rate ``r``."""
    return (
        f"sum({convert_sql('p.cost_usd', 'r.units_per_usd')}) AS {prefix}cost,"
        f" CAST(coalesce(sum(p.priced_calls) FILTER (WHERE r.units_per_usd IS NULL), 0) AS BIGINT)"
        f" AS {prefix}unconverted_calls,"
        f" sum(p.cost_usd) FILTER (WHERE r.units_per_usd IS NULL) AS {prefix}unconverted_cost_usd"
    )


def check_currency(con: duckdb.DuckDBPyConnection, currency: str) -> str:
    """The currency's code, upper case, when rates of it are loaded.

    Raises:
        currency.UnknownCurrency: none is loaded; the message names ``otel-llm-cost rates load``.
    """
    code = currency.strip().upper()
    if not query(con, "SELECT 1 FROM exchange_rates WHERE currency = ? LIMIT 1", [code]):
        known = [c for (c,) in query(con, "SELECT DISTINCT currency FROM exchange_rates ORDER BY 1")]
        have = f"loaded: {', '.join(known)}" if known else "none are loaded"
        raise currencies.UnknownCurrency(
            f"no exchange rates for {code} ({have}); load some with: otel-llm-cost rates load FILE"
        )
    return code


def converted_by_key(
    con: duckdb.DuckDBPyConnection,
    currency: str,
    keys: Sequence[str],
    period: Period,
    *,
    where: str = "true",
    params: Sequence[Any] = (),
) -> dict[tuple[Any, ...], Converted]:
    """The calls of ``period`` grouped by the SQL expressions ``keys``, each group's cost converted per day.

    ``keys`` and ``where`` are fixed SQL from this package, never user input; ``params`` fill ``where``.
    """
    in_period, period_params = period_filter(period)
    names = [f"k{i}" for i in range(len(keys))]
    selected = "".join(f"{expression} AS {name}, " for expression, name in zip(keys, names, strict=True))
    rows = query(
        con,
        f"""
        WITH per_day AS (
            SELECT {selected}{DAY_SQL} AS day, count(cost_usd) AS priced_calls, sum(cost_usd) AS cost_usd
            FROM llm_calls
            WHERE NOT is_duplicate AND {where} AND {in_period}
            GROUP BY ALL
        )
        SELECT {"".join(f"p.{name}, " for name in names)}{converted_columns()}
        FROM per_day p ASOF LEFT JOIN {RATES_SQL} r ON p.day >= r.day
        GROUP BY ALL
        """,
        [*params, *period_params, currency],
    )
    return {tuple(row[: len(keys)]): Converted(*row[len(keys) :]) for row in rows}


def convert_report(con: duckdb.DuckDBPyConnection, report: Report, currency: str, *, now: datetime) -> Report:
    """``report`` with every cost also in ``currency``: each row's ``converted``, and ``currency`` set.

    Raises:
        currency.UnknownCurrency: no rate of ``currency`` is loaded.
    """
    code = check_currency(con, currency)
    model = (
        "coalesce(priced_provider, llm_provider_id(provider))",
        "coalesce(priced_model, response_model, request_model)",
    )
    [total] = converted_by_key(con, code, [], report.period).values() or [Converted(None, 0, None)]
    daily = converted_by_key(con, code, [DAY_SQL, *model], report.window)
    by_model = converted_by_key(con, code, model, report.window)
    services = converted_by_key(con, code, ["service_name", "environment"], report.period)
    users = [u.name for u in report.top_users]
    by_user = converted_by_key(con, code, ["user_id"], report.period, where="list_contains(?, user_id)", params=[users])
    conversations = [c.conversation_id for c in report.top_conversations]
    by_conversation = converted_by_key(
        con, code, ["conversation_id"], report.period, where="list_contains(?, conversation_id)", params=[conversations]
    )
    none = Converted(None, 0, None)  # a group whose calls are all unpriced has no row with a priced day
    daily_rows = [dataclasses.replace(d, converted=daily.get((d.day, d.provider, d.model), none)) for d in report.daily]
    return dataclasses.replace(
        report,
        currency=code,
        totals=dataclasses.replace(report.totals, converted=total),
        daily=daily_rows,
        by_day=_days_converted(report.by_day, daily_rows),
        by_model=[dataclasses.replace(m, converted=by_model.get((m.provider, m.model), none)) for m in report.by_model],
        by_service=[
            dataclasses.replace(s, converted=services.get((s.name, s.environment), none)) for s in report.by_service
        ],
        top_users=[dataclasses.replace(u, converted=by_user.get((u.name,), none)) for u in report.top_users],
        top_conversations=[
            dataclasses.replace(c, converted=by_conversation.get((c.conversation_id,), none))
            for c in report.top_conversations
        ],
        month_to_date=convert_month_to_date(con, report.month_to_date, code, now=now),
    )


def _days_converted(days: Sequence[DayCost], daily: Sequence[DailyCost]) -> list[DayCost]:
    """Each day's total and provider columns, summed from its converted daily rows (one day, one rate)."""
    rows_of: dict[date, list[DailyCost]] = {}
    for row in daily:
        rows_of.setdefault(row.day, []).append(row)
    result = []
    for day in days:
        by_provider: dict[str, Converted] = {}
        total = Converted(None, 0, None)
        for row in rows_of.get(day.day, []):
            provider = row.provider or "(none)"
            by_provider[provider] = add_converted(by_provider.get(provider), row.converted)
            total = add_converted(total, row.converted)
        result.append(dataclasses.replace(day, converted=total, converted_by_provider=by_provider))
    return result


def add_converted(a: Converted | None, b: Converted | None) -> Converted:
    """Two conversions added up; an unknown amount stays unknown (None) rather than becoming 0."""
    a, b = a or Converted(None, 0, None), b or Converted(None, 0, None)
    return Converted(_add(a.cost, b.cost), a.unconverted_calls + b.unconverted_calls,
                     _add(a.unconverted_cost_usd, b.unconverted_cost_usd))  # fmt: skip


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return a if b is None else b if a is None else a + b


def convert_month_to_date(
    con: duckdb.DuckDBPyConnection, mtd: MonthToDate, currency: str, *, now: datetime
) -> MonthToDate:
    """This month and the previous one converted per day; the projection scales the converted month as
    ``llm_month_to_date`` scales the USD one (by whole seconds, floored to 10^-9)."""
    month_start = datetime(mtd.month.year, mtd.month.month, 1, tzinfo=timezone.utc)
    month_end = datetime(mtd.month.year + mtd.month.month // 12, mtd.month.month % 12 + 1, 1, tzinfo=timezone.utc)
    previous_start = (month_start - timedelta(days=1)).replace(day=1)
    by_month = _months(con, currency, previous_start, month_start, month_end)
    this_month, previous = by_month
    elapsed = max(int((now - month_start).total_seconds()), 1)
    month_seconds = int((month_end - month_start).total_seconds())
    projected = None
    if this_month.cost is not None:
        projected = (this_month.cost * month_seconds / elapsed).quantize(_NANO, rounding=ROUND_FLOOR)
    return dataclasses.replace(
        mtd, converted=this_month, converted_projected=projected, converted_previous_month=previous
    )


def _months(
    con: duckdb.DuckDBPyConnection, currency: str, previous_start: datetime, month_start: datetime, month_end: datetime
) -> tuple[Converted, Converted]:
    result = query(
        con,
        f"""
        WITH per_day AS (
            SELECT start_time >= ? AS this_month, {DAY_SQL} AS day, count(cost_usd) AS priced_calls,
                   sum(cost_usd) AS cost_usd
            FROM llm_calls
            WHERE NOT is_duplicate AND start_time >= ? AND start_time < ?
            GROUP BY ALL
        )
        SELECT p.this_month, {converted_columns()}
        FROM per_day p ASOF LEFT JOIN {RATES_SQL} r ON p.day >= r.day
        GROUP BY ALL
        """,
        [month_start, previous_start, month_end, currency],
    )
    found = {bool(row[0]): Converted(*row[1:]) for row in result}
    # A month without any call costs 0, as in llm_month_to_date; with calls, None means none converts.
    no_calls = Converted(Decimal(0), 0, None)
    return found.get(True, no_calls), found.get(False, no_calls)
