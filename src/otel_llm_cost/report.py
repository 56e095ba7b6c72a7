"""The cost report's queries: each returns plain data (frozen dataclasses), never text.

Rendering that data (rich tables, JSON, CSV, markdown, HTML) is in the ``_report_*`` modules;
keeping the two apart lets tests check the numbers exactly and makes every format show the very same
data. The queries read ``llm_calls`` filtered to a :class:`~otel_llm_cost._report_period.Period`
(the views cannot be filtered by time before they aggregate) with the views' rules: duplicates
(``is_duplicate``) count once, providers are normalised by the views' ``llm_provider_id`` macro, and
a group with no priced call costs ``None``, never 0. Money stays ``Decimal`` from DuckDB to the screen.

Every query runs through :func:`query`, so there is one place to time, log or trace them.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import duckdb

from otel_llm_cost import migrations
from otel_llm_cost._report_period import Period, day_window
from otel_llm_cost._report_rows import (
    ConversationCost,
    DailyCost,
    DayCost,
    GroupCost,
    ModelCost,
    MonthToDate,
    Report,
    Totals,
    UnpricedGroup,
)
from otel_llm_cost.store import DuckDBStore, StoreUnavailable

__all__ = [
    "ConversationCost", "DailyCost", "DayCost", "GroupCost", "ModelCost", "MonthToDate", "Report", "ReportError",
    "Totals", "UnpricedGroup", "build_report", "open_database", "query",
]  # fmt: skip


class ReportError(Exception):
    """The database cannot be reported on (missing, locked, or its schema is not current)."""


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one report query and return its rows. Every query of every report format goes through here."""
    return con.execute(sql, params).fetchall()


def open_database(path: str) -> duckdb.DuckDBPyConnection:
    """Open a database read-only for reporting; never creates or changes the file.

    Raises:
        ReportError: the file is missing, cannot be opened, or is not at the newest schema.
    """
    try:
        con = DuckDBStore(path, read_only=True).con
    except StoreUnavailable as exc:
        raise ReportError(str(exc)) from exc
    # Days in the views are UTC days; timestamps handed to Python should be UTC too.
    con.execute("SET TimeZone = 'UTC'")
    pending = migrations.pending(con)
    if pending:
        con.close()
        raise ReportError(
            f"{path} is not at the newest schema ({len(pending)} migration(s) pending, "
            f"from {pending[0].name}); run: otel-llm-cost migrate --db {path}"
        )
    # Views (and the macros beside them) are re-created by every migrate, not by a migration: a file
    # last opened for writing by an older version can lack the ones the report reads.
    # A file in sql/views defines a view or a table macro (llm_what_if) named after it.
    present = {name for (name,) in query(con, "SELECT view_name FROM duckdb_views() WHERE NOT internal"
                                               " UNION SELECT function_name FROM duckdb_functions()"
                                               " WHERE function_type = 'table_macro'")}  # fmt: skip
    missing = sorted({entry.name.removesuffix(".sql") for entry in migrations.view_files()} - present)
    if missing:
        con.close()
        raise ReportError(
            f"{path} lacks the views {', '.join(missing)} (an older otel-llm-cost wrote it); "
            f"run: otel-llm-cost migrate --db {path}"
        )
    return con


def database_path(con: duckdb.DuckDBPyConnection) -> str:
    """The file the connection reads, or ``:memory:``."""
    rows = query(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    return str(rows[0][0]) if rows and rows[0][0] else ":memory:"


def period_filter(period: Period) -> tuple[str, list[Any]]:
    """SQL condition on ``start_time`` (and its parameters) selecting the calls of ``period``."""
    conditions, params = ["true"], []
    if period.since is not None:
        conditions.append("start_time >= ?")
        params.append(period.since)
    if period.until is not None:
        conditions.append("start_time < ?")
        params.append(period.until)
    return " AND ".join(conditions), params


def build_report(
    con: duckdb.DuckDBPyConnection,
    *,
    days: int = 14,
    top: int = 10,
    today: date | None = None,
    period: Period | None = None,
    now: datetime | None = None,
    currency: str | None = None,
) -> Report:
    """Run every query of the overview.

    Args:
        con: a connection to a migrated database.
        days: without a period, how many UTC days, up to and including ``today``, the daily and
            per-model tables cover.
        top: how many users and conversations to list.
        today: the last day of the daily window; the current UTC date by default.
        period: the calls to report on; all of them by default (the daily tables then show ``days``).
        now: the clock for month to date; the current time by default.
        currency: also show every cost in this currency (an ISO code whose rates are loaded),
            converted per UTC day; USD only by default.

    Raises:
        currency.UnknownCurrency: no rate of ``currency`` is loaded.
    """
    now = now or datetime.now(timezone.utc)
    today = today or now.date()
    scope = period or Period()
    window = scope if not scope.is_open else day_window(days, today=today)
    daily = daily_cost(con, window)
    report = Report(
        db_path=database_path(con),
        period=scope,
        window=window,
        totals=totals(con, scope),
        daily=daily,
        by_day=cost_by_day(daily),
        by_model=cost_by_model(con, window),
        by_service=cost_by_service(con, scope),
        top_users=top_users(con, limit=top, period=scope),
        top_conversations=top_conversations(con, limit=top, period=scope),
        unpriced=unpriced_calls(con, scope),
        month_to_date=month_to_date(con, now=now),
    )
    if currency is None:
        return report
    # Imported here: the conversion builds on this module's query() and period_filter().
    from otel_llm_cost._report_currency import convert_report

    return convert_report(con, report, currency, now=now)


def totals(con: duckdb.DuckDBPyConnection, period: Period | None = None) -> Totals:
    """Totals over the period (the whole database by default)."""
    where, params = period_filter(period or Period())
    [row] = query(
        con,
        f"""
        SELECT count(*) FILTER (WHERE NOT is_duplicate),
               count(cost_usd) FILTER (WHERE NOT is_duplicate),
               count(*) FILTER (WHERE NOT is_duplicate AND cost_usd IS NULL),
               count(*) FILTER (WHERE NOT is_duplicate AND status_code = 'ERROR'),
               count(*) FILTER (WHERE is_duplicate),
               coalesce(sum(input_tokens) FILTER (WHERE NOT is_duplicate), 0),
               coalesce(sum(cache_read_tokens) FILTER (WHERE NOT is_duplicate), 0),
               coalesce(sum(cache_write_tokens) FILTER (WHERE NOT is_duplicate), 0),
               coalesce(sum(output_tokens) FILTER (WHERE NOT is_duplicate), 0),
               coalesce(sum(reasoning_tokens) FILTER (WHERE NOT is_duplicate), 0),
               sum(cost_usd) FILTER (WHERE NOT is_duplicate),
               min(start_time) FILTER (WHERE NOT is_duplicate),
               max(start_time) FILTER (WHERE NOT is_duplicate),
               list_sort(list(DISTINCT price_version) FILTER (WHERE price_version IS NOT NULL))
        FROM llm_calls
        WHERE {where}
        """,
        params,
    )  # an aggregate without GROUP BY always returns one row
    calls, priced, unpriced, failed, duplicates, tokens_in, cache_read, cache_write, tokens_out, reasoning = row[:10]
    return Totals(
        calls=calls,
        priced_calls=priced,
        unpriced_calls=unpriced,
        failed_calls=failed,
        duplicate_calls=duplicates,
        input_tokens=tokens_in,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=tokens_out,
        reasoning_tokens=reasoning,
        cost_usd=row[10],
        first_call_at=row[11],
        last_call_at=row[12],
        price_versions=list(row[13] or []),  # list() of no rows is NULL
    )


def daily_cost(con: duckdb.DuckDBPyConnection, period: Period) -> list[DailyCost]:
    """``llm_daily_cost``'s rows for the calls of ``period``, newest day first."""
    where, params = period_filter(period)
    # The view's query with the period applied before it aggregates: same normalised providers.
    rows = query(
        con,
        f"""
        WITH raw AS (
            SELECT DATE '1970-01-01' + CAST(epoch_us(start_time) // 86400000000 AS INTEGER) AS day,
                   priced_provider, provider,
                   coalesce(priced_model, response_model, request_model) AS model, count(*) AS calls,
                   count(*) - count(cost_usd) AS unpriced_calls, sum(input_tokens) AS input_tokens,
                   sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
                   sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
            FROM llm_calls
            WHERE NOT is_duplicate AND {where}
            GROUP BY ALL
        )
        SELECT day, coalesce(priced_provider, llm_provider_id(provider)) AS provider, model,
               CAST(sum(calls) AS BIGINT), CAST(sum(unpriced_calls) AS BIGINT),
               CAST(coalesce(sum(input_tokens), 0) AS BIGINT), CAST(coalesce(sum(cache_read_tokens), 0) AS BIGINT),
               CAST(coalesce(sum(cache_write_tokens), 0) AS BIGINT), CAST(coalesce(sum(output_tokens), 0) AS BIGINT),
               sum(cost_usd) AS cost_usd
        FROM raw
        GROUP BY ALL
        ORDER BY day DESC, cost_usd DESC NULLS LAST, 4 DESC, provider, model
        """,
        params,
    )
    return [DailyCost(*row) for row in rows]


def cost_by_day(daily: list[DailyCost]) -> list[DayCost]:
    """Fold daily rows into one row per day, newest first, with a cost per provider."""
    days: dict[date, DayCost] = {}
    for row in daily:
        day = days.get(row.day) or DayCost(row.day, 0, 0, None, {})
        provider = row.provider or "(none)"
        day.cost_by_provider[provider] = _add(day.cost_by_provider.get(provider), row.cost_usd)
        days[row.day] = dataclasses.replace(
            day,
            calls=day.calls + row.calls,
            unpriced_calls=day.unpriced_calls + row.unpriced_calls,
            cost_usd=_add(day.cost_usd, row.cost_usd),
        )
    return sorted(days.values(), key=lambda d: d.day, reverse=True)


def cost_by_model(con: duckdb.DuckDBPyConnection, period: Period) -> list[ModelCost]:
    """Each provider and model over the period, most expensive first."""
    where, params = period_filter(period)
    rows = query(
        con,
        f"""
        SELECT coalesce(priced_provider, llm_provider_id(provider)) AS provider,
               coalesce(priced_model, response_model, request_model) AS model, count(*), count(*) - count(cost_usd),
               coalesce(sum(input_tokens), 0), coalesce(sum(cache_read_tokens), 0),
               coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0), sum(cost_usd)
        FROM llm_calls
        WHERE NOT is_duplicate AND {where}
        GROUP BY ALL
        ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC, provider NULLS LAST, model NULLS LAST
        """,
        params,
    )
    return [ModelCost(*row) for row in rows]


def cost_by_service(con: duckdb.DuckDBPyConnection, period: Period | None = None) -> list[GroupCost]:
    """Every service (and environment), most expensive first."""
    return _groups(con, "service_name", "environment", limit=None, period=period or Period())


def top_users(con: duckdb.DuckDBPyConnection, *, limit: int = 10, period: Period | None = None) -> list[GroupCost]:
    """The ``limit`` most expensive users (``user.id``); calls without a user are left out."""
    return _groups(con, "user_id", "NULL", limit=limit, where="user_id IS NOT NULL", period=period or Period())


def _groups(
    con: duckdb.DuckDBPyConnection,
    name: str,
    environment: str,
    *,
    limit: int | None,
    period: Period,
    where: str = "true",
) -> list[GroupCost]:
    # name/environment/where are fixed column expressions from this module, never user input.
    in_period, params = period_filter(period)
    rows = query(
        con,
        f"""
        SELECT {name}, {environment}, count(*), count(*) - count(cost_usd), count(DISTINCT conversation_id),
               coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum(cost_usd)
        FROM llm_calls
        WHERE NOT is_duplicate AND {where} AND {in_period}
        GROUP BY ALL
        ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC, 1 NULLS LAST, 2 NULLS LAST
        LIMIT ?
        """,
        [*params, limit],
    )
    return [GroupCost(*row) for row in rows]


def top_conversations(
    con: duckdb.DuckDBPyConnection, *, limit: int = 10, period: Period | None = None
) -> list[ConversationCost]:
    """The ``limit`` most expensive conversations: ``llm_cost_by_conversation``'s rows over the period."""
    where, params = period_filter(period or Period())
    rows = query(
        con,
        f"""
        SELECT conversation_id, arg_min(user_id, start_time) FILTER (WHERE user_id IS NOT NULL), count(*),
               count(*) - count(cost_usd),
               coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum(cost_usd) AS cost_usd,
               list_filter(list_sort(list(DISTINCT coalesce(priced_model, response_model, request_model))),
                           m -> m IS NOT NULL),
               min(start_time), max(end_time)
        FROM llm_calls
        WHERE NOT is_duplicate AND conversation_id IS NOT NULL AND {where}
        GROUP BY conversation_id
        ORDER BY cost_usd DESC NULLS LAST, count(*) DESC, conversation_id
        LIMIT ?
        """,
        [*params, limit],
    )
    return [ConversationCost(*row) for row in rows]


def unpriced_calls(con: duckdb.DuckDBPyConnection, period: Period | None = None) -> list[UnpricedGroup]:
    """Unpriced calls grouped by provider, model and pricing status, with the tokens they used."""
    where, params = period_filter(period or Period())
    rows = query(
        con,
        f"""
        SELECT llm_provider_id(provider) AS provider, coalesce(response_model, request_model) AS model,
               pricing_status, count(*),
               coalesce(sum(input_tokens), 0), coalesce(sum(cache_read_tokens), 0),
               coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0), min(pricing_detail)
        FROM llm_unpriced_calls
        WHERE {where}
        GROUP BY ALL
        ORDER BY count(*) DESC, provider NULLS LAST, model NULLS LAST, pricing_status
        """,
        params,
    )
    return [UnpricedGroup(*row) for row in rows]


def month_to_date(con: duckdb.DuckDBPyConnection, *, now: datetime) -> MonthToDate:
    """Spend of ``now``'s UTC month so far, projected linearly to the month's end."""
    [row] = query(
        con,
        "SELECT month, calls, unpriced_calls, cost_usd, projected_cost_usd, previous_month_cost_usd, days_elapsed,"
        " days_in_month FROM llm_month_to_date_at(?)",
        [now],
    )
    return MonthToDate(*row)


# Query results map onto the dataclasses column by column: keep SELECT lists and fields in the same order.


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    """Sum that treats None as 'no priced call yet', so an all-unpriced group stays None, not 0."""
    if value is None:
        return total
    return value if total is None else total + value
