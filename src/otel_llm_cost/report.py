"""The cost report's queries: each returns plain data (frozen dataclasses), never text.

Rendering that data, as rich tables or JSON, is :mod:`otel_llm_cost._report_render`; keeping the two
apart lets tests check the numbers exactly and makes ``--format json`` print the very data the tables
show. Every query reads the documented views where one exists (``llm_daily_cost``,
``llm_cost_by_conversation``, ``llm_unpriced_calls``) and otherwise ``llm_calls``; duplicates
(``is_duplicate``) are counted once, as in the views. Money stays ``Decimal`` from DuckDB to the
screen; a group with no priced call has cost ``None``, never 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import duckdb

from otel_llm_cost import migrations
from otel_llm_cost.store import DuckDBStore, StoreUnavailable


class ReportError(Exception):
    """The database cannot be reported on (missing, locked, or its schema is not current)."""


@dataclass(frozen=True)
class Totals:
    """Every call in the database, duplicates excluded."""

    calls: int
    priced_calls: int
    unpriced_calls: int
    failed_calls: int  #: span status ERROR
    duplicate_calls: int  #: rows flagged is_duplicate, left out of every other number
    input_tokens: int  #: all input, cache reads and writes included
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int  #: reasoning included
    reasoning_tokens: int
    cost_usd: Decimal | None  #: sum over priced calls; None when no call is priced
    first_call_at: datetime | None
    last_call_at: datetime | None
    price_versions: list[str]  #: catalog versions the costs were computed with


@dataclass(frozen=True)
class DailyCost:
    """One row of ``llm_daily_cost``: a UTC day, provider and model."""

    day: date
    provider: str | None
    model: str | None
    calls: int
    unpriced_calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_usd: Decimal | None


@dataclass(frozen=True)
class DayCost:
    """One UTC day of the daily window: totals, and the cost of each provider that had calls."""

    day: date
    calls: int
    unpriced_calls: int
    cost_usd: Decimal | None
    cost_by_provider: dict[str, Decimal | None]


@dataclass(frozen=True)
class ModelCost:
    """One provider and model over the daily window (``llm_daily_cost`` summed over days)."""

    provider: str | None
    model: str | None
    calls: int
    unpriced_calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_usd: Decimal | None


@dataclass(frozen=True)
class GroupCost:
    """Calls, tokens and cost of one service (with its environment) or one user."""

    name: str | None
    environment: str | None
    calls: int
    unpriced_calls: int
    conversations: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None


@dataclass(frozen=True)
class ConversationCost:
    """One row of ``llm_cost_by_conversation``."""

    conversation_id: str
    user_id: str | None
    calls: int
    unpriced_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    models: list[str]
    first_call_at: datetime
    last_call_at: datetime


@dataclass(frozen=True)
class UnpricedGroup:
    """Unpriced calls (``llm_unpriced_calls``) of one provider, model and pricing status."""

    provider: str | None
    model: str | None
    pricing_status: str
    calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    detail: str | None  #: one of the reasons given, e.g. which catalog lookup failed


@dataclass(frozen=True)
class Report:
    """Everything ``otel-llm-cost report`` shows."""

    db_path: str
    days: int
    since: date  #: first day of the daily window (UTC)
    totals: Totals
    daily: list[DailyCost]
    by_day: list[DayCost]
    by_model: list[ModelCost]
    by_service: list[GroupCost]
    top_users: list[GroupCost]
    top_conversations: list[ConversationCost]
    unpriced: list[UnpricedGroup]


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
    return con


def build_report(con: duckdb.DuckDBPyConnection, *, days: int = 14, top: int = 10, today: date | None = None) -> Report:
    """Run every report query.

    Args:
        con: a connection to a migrated database.
        days: how many UTC days, up to and including ``today``, the daily table covers.
        top: how many users and conversations to list.
        today: the last day of the daily window; the current UTC date by default.
    """
    today = today or datetime.now(timezone.utc).date()
    since = today - timedelta(days=days - 1)
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    daily = daily_cost(con, since=since, until=today)
    return Report(
        db_path=str(path[0]) if path and path[0] else ":memory:",
        days=days,
        since=since,
        totals=totals(con),
        daily=daily,
        by_day=cost_by_day(daily),
        by_model=cost_by_model(con, since=since, until=today),
        by_service=cost_by_service(con),
        top_users=top_users(con, limit=top),
        top_conversations=top_conversations(con, limit=top),
        unpriced=unpriced_calls(con),
    )


def totals(con: duckdb.DuckDBPyConnection) -> Totals:
    """Totals over the whole database."""
    row = con.execute(
        """
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
        """
    ).fetchone()
    assert row is not None  # an aggregate without GROUP BY always returns one row
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


def daily_cost(con: duckdb.DuckDBPyConnection, *, since: date, until: date) -> list[DailyCost]:
    """Rows of ``llm_daily_cost`` from ``since`` to ``until`` (inclusive), newest day first."""
    rows = con.execute(
        """
        SELECT day, provider, model, calls, unpriced_calls, coalesce(input_tokens, 0),
               coalesce(cache_read_tokens, 0), coalesce(cache_write_tokens, 0), coalesce(output_tokens, 0), cost_usd
        FROM llm_daily_cost
        WHERE day BETWEEN ? AND ?
        ORDER BY day DESC, cost_usd DESC NULLS LAST, calls DESC, provider, model
        """,
        [since, until],
    ).fetchall()
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


def cost_by_model(con: duckdb.DuckDBPyConnection, *, since: date, until: date) -> list[ModelCost]:
    """Each provider and model over the window, most expensive first."""
    rows = con.execute(
        """
        SELECT provider, model, sum(calls), sum(unpriced_calls), coalesce(sum(input_tokens), 0),
               coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_write_tokens), 0),
               coalesce(sum(output_tokens), 0), sum(cost_usd)
        FROM llm_daily_cost
        WHERE day BETWEEN ? AND ?
        GROUP BY ALL
        ORDER BY sum(cost_usd) DESC NULLS LAST, sum(calls) DESC, provider NULLS LAST, model NULLS LAST
        """,
        [since, until],
    ).fetchall()
    return [ModelCost(*row) for row in rows]


def cost_by_service(con: duckdb.DuckDBPyConnection) -> list[GroupCost]:
    """Every service (and environment), most expensive first."""
    return _groups(con, "service_name", "environment", limit=None)


def top_users(con: duckdb.DuckDBPyConnection, *, limit: int = 10) -> list[GroupCost]:
    """The ``limit`` most expensive users (``user.id``); calls without a user are left out."""
    return _groups(con, "user_id", "NULL", limit=limit, where="user_id IS NOT NULL")


def _groups(
    con: duckdb.DuckDBPyConnection, name: str, environment: str, *, limit: int | None, where: str = "true"
) -> list[GroupCost]:
    # name/environment/where are fixed column expressions from this module, never user input.
    rows = con.execute(
        f"""
        SELECT {name}, {environment}, count(*), count(*) - count(cost_usd), count(DISTINCT conversation_id),
               coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), sum(cost_usd)
        FROM llm_calls
        WHERE NOT is_duplicate AND {where}
        GROUP BY ALL
        ORDER BY sum(cost_usd) DESC NULLS LAST, count(*) DESC, 1 NULLS LAST, 2 NULLS LAST
        LIMIT ?
        """,
        [limit],
    ).fetchall()
    return [GroupCost(*row) for row in rows]


def top_conversations(con: duckdb.DuckDBPyConnection, *, limit: int = 10) -> list[ConversationCost]:
    """The ``limit`` most expensive conversations, from ``llm_cost_by_conversation``."""
    rows = con.execute(
        """
        SELECT conversation_id, user_id, calls, unpriced_calls, coalesce(input_tokens, 0),
               coalesce(output_tokens, 0), cost_usd, list_filter(models, m -> m IS NOT NULL), first_call_at,
               last_call_at
        FROM llm_cost_by_conversation
        ORDER BY cost_usd DESC NULLS LAST, calls DESC, conversation_id
        LIMIT ?
        """,
        [limit],
    ).fetchall()
    return [ConversationCost(*row) for row in rows]


def unpriced_calls(con: duckdb.DuckDBPyConnection) -> list[UnpricedGroup]:
    """Unpriced calls grouped by provider, model and pricing status, with the tokens they used."""
    rows = con.execute(
        """
        SELECT provider, coalesce(response_model, request_model) AS model, pricing_status, count(*),
               coalesce(sum(input_tokens), 0), coalesce(sum(cache_read_tokens), 0),
               coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0), min(pricing_detail)
        FROM llm_unpriced_calls
        GROUP BY ALL
        ORDER BY count(*) DESC, provider NULLS LAST, model NULLS LAST, pricing_status
        """
    ).fetchall()
    return [UnpricedGroup(*row) for row in rows]


# Query results map onto the dataclasses column by column: keep SELECT lists and fields in the same order.


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    """Sum that treats None as 'no priced call yet', so an all-unpriced group stays None, not 0."""
    if value is None:
        return total
    return value if total is None else total + value
