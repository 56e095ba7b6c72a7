"""``report --by``: one table of calls, tokens and cost per model, user, conversation, service, day or agent.

Every group of the period is counted, including the calls that have no user (or conversation, agent
...), shown as a group of their own, so the rows always add up to the totals. Past ``--top``, the
remaining groups are summed into one ``rest`` row in the same query, for the same reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import duckdb

from otel_llm_cost._report_currency import DAY_SQL, RATES_SQL, check_currency, converted_by_key, converted_columns
from otel_llm_cost._report_period import Period
from otel_llm_cost._report_rows import Converted, Totals, UnpricedGroup
from otel_llm_cost.report import database_path, period_filter, query, totals, unpriced_calls


@dataclass(frozen=True)
class GroupKey:
    """How one ``--by`` choice groups calls: SQL for the key and its detail column, and their titles."""

    title: str
    key_sql: str
    detail_title: str | None = None
    detail_sql: str = "NULL"
    newest_first: bool = False  #: order by key (newest day first) rather than by cost


# Fixed SQL expressions, chosen by name from a click.Choice: never user text.
GROUP_KEYS: Final[dict[str, GroupKey]] = {
    "model": GroupKey(
        "Model",
        "coalesce(priced_model, response_model, request_model)",
        "Provider",
        "coalesce(priced_provider, llm_provider_id(provider))",
    ),
    "user": GroupKey("User", "user_id"),
    "conversation": GroupKey("Conversation", "conversation_id"),
    "service": GroupKey("Service", "service_name", "Environment", "environment"),
    # The UTC day from the instant by integer arithmetic (as the views do): cheaper than timezone().
    "day": GroupKey(
        "Day (UTC)", "DATE '1970-01-01' + CAST(epoch_us(start_time) // 86400000000 AS INTEGER)", newest_first=True
    ),
    "agent": GroupKey("Agent", "agent_name"),
}


@dataclass(frozen=True)
class GroupRow:
    """Calls, tokens and cost of one group (or, as ``GroupedReport.rest``, of every group past ``--top``)."""

    key: str | None  #: None: the calls without one (no user, no conversation, ...)
    detail: str | None  #: the provider of a model, the environment of a service
    calls: int
    priced_calls: int
    unpriced_calls: int
    failed_calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal | None
    converted: Converted | None = None  #: cost_usd in the display currency; None in a USD report


@dataclass(frozen=True)
class GroupedReport:
    """Everything ``otel-llm-cost report --by ...`` shows."""

    db_path: str
    by: str
    period: Period
    totals: Totals
    rows: list[GroupRow]
    rest_groups: int  #: how many groups are past --top
    rest: GroupRow | None  #: those groups summed; None when every group is shown
    unpriced: list[UnpricedGroup]
    currency: str | None = None  #: the display currency of every ``converted``; None: USD only


def build_grouped(
    con: duckdb.DuckDBPyConnection, by: str, *, top: int, period: Period, currency: str | None = None
) -> GroupedReport:
    """The ``top`` groups of ``by`` over ``period``, the rest summed, with totals and unpriced calls.

    With ``currency`` (an ISO code whose rates are loaded), each cost is also converted into it, per
    UTC day (:mod:`otel_llm_cost._report_currency`).

    Raises:
        currency.UnknownCurrency: no rate of ``currency`` is loaded.
    """
    code = check_currency(con, currency) if currency else None
    rows, rest_groups, rest = grouped(con, by, top=top, period=period, currency=code)
    totals_row = totals(con, period)
    if code:
        [converted] = converted_by_key(con, code, [], period).values() or [Converted(None, 0, None)]
        totals_row = dataclasses.replace(totals_row, converted=converted)
    return GroupedReport(
        db_path=database_path(con),
        by=by,
        period=period,
        totals=totals_row,
        rows=rows,
        rest_groups=rest_groups,
        rest=rest,
        unpriced=unpriced_calls(con, period),
        currency=code,
    )


# Per group: counts and tokens, then cost_usd (the last column the USD report reads).
_GROUP_AGGREGATES = """count(*) AS calls, count(cost_usd) AS priced_calls, count(*) - count(cost_usd) AS unpriced_calls,
                   count(*) FILTER (WHERE status_code = 'ERROR') AS failed_calls,
                   coalesce(sum(input_tokens), 0) AS input_tokens,
                   coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
                   coalesce(sum(cache_write_tokens), 0) AS cache_write_tokens,
                   coalesce(sum(output_tokens), 0) AS output_tokens,
                   coalesce(sum(reasoning_tokens), 0) AS reasoning_tokens,
                   sum(cost_usd) AS cost_usd"""
_SUMMED = ("calls", "priced_calls", "unpriced_calls", "failed_calls", "input_tokens", "cache_read_tokens",
           "cache_write_tokens", "output_tokens", "reasoning_tokens")  # fmt: skip


def _groups_sql(spec: GroupKey, where: str, currency: str | None) -> str:
    """The ``groups`` CTE: one row per key and detail; in a currency, summed from per-day rows so each
    day's cost converts at that day's rate."""
    if currency is None:
        return f"""groups AS (
            SELECT {spec.key_sql} AS key, {spec.detail_sql} AS detail, {_GROUP_AGGREGATES},
                   NULL AS cost, 0 AS unconverted_calls, NULL AS unconverted_cost_usd
            FROM llm_calls
            WHERE NOT is_duplicate AND {where}
            GROUP BY ALL
        )"""
    summed = ", ".join(f"CAST(sum(p.{name}) AS BIGINT) AS {name}" for name in _SUMMED)
    return f"""per_day AS (
            SELECT {spec.key_sql} AS key, {spec.detail_sql} AS detail, {DAY_SQL} AS day, {_GROUP_AGGREGATES}
            FROM llm_calls
            WHERE NOT is_duplicate AND {where}
            GROUP BY ALL
        ),
        groups AS (
            SELECT p.key, p.detail, {summed}, sum(p.cost_usd) AS cost_usd, {converted_columns()}
            FROM per_day p ASOF LEFT JOIN {RATES_SQL} r ON p.day >= r.day
            GROUP BY p.key, p.detail
        )"""


def grouped(
    con: duckdb.DuckDBPyConnection, by: str, *, top: int, period: Period, currency: str | None = None
) -> tuple[list[GroupRow], int, GroupRow | None]:
    """The ``top`` first groups, how many groups follow, and those groups summed (None if none)."""
    spec = GROUP_KEYS[by]
    where, params = period_filter(period)
    order = "key DESC NULLS LAST" if spec.newest_first else "cost_usd DESC NULLS LAST, calls DESC, key NULLS LAST"
    result = query(
        con,
        f"""
        WITH {_groups_sql(spec, where, currency)},
        ranked AS (SELECT *, row_number() OVER (ORDER BY {order}, detail NULLS LAST) AS rank FROM groups)
        -- Keys are text (a day as 2026-11-21), cast once per group rather than once per call.
        SELECT false AS is_rest, rank, CAST(key AS VARCHAR), detail, calls, priced_calls, unpriced_calls,
               failed_calls, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
               cost_usd, cost, unconverted_calls, unconverted_cost_usd
        FROM ranked WHERE rank <= ?
        UNION ALL
        SELECT true, count(*), NULL, NULL, sum(calls), sum(priced_calls), sum(unpriced_calls), sum(failed_calls),
               sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),
               sum(reasoning_tokens), sum(cost_usd), sum(cost), sum(unconverted_calls), sum(unconverted_cost_usd)
        FROM ranked WHERE rank > ?
        HAVING count(*) > 0
        ORDER BY is_rest, rank
        """,
        [*params, *([currency] if currency else []), top, top],
    )
    rows = [GroupRow(*r[2:14]) for r in result]
    if currency:
        rows = [
            dataclasses.replace(g, converted=Converted(r[14], int(r[15]), r[16]))
            for g, r in zip(rows, result, strict=True)
        ]
    if result and result[-1][0]:
        return rows[:-1], int(result[-1][1]), rows[-1]
    return rows, 0, None
