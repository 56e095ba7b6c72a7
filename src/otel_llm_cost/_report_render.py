"""The cost report rendered: rich tables for people, JSON for programs.

Both take the :class:`~otel_llm_cost.report.Report` that :func:`otel_llm_cost.report.build_report`
returns and show exactly its data; nothing here queries the database. Money is shown to four
places (rounded half-even) in tables and as exact decimal strings in JSON; an unpriced cost is
``n/a`` or ``null``, never $0.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from rich import box
from rich.console import Console
from rich.table import Table

from otel_llm_cost._report_groups import GROUP_KEYS, GroupedReport, GroupRow
from otel_llm_cost._report_period import Period
from otel_llm_cost._report_rows import Converted, MonthToDate, Report, Totals, UnpricedGroup

_CENT_HUNDREDTHS = Decimal("0.0001")
_NUMERIC_COLUMNS = {"Calls", "Unpriced", "Failed", "Input", "Cache", "Output", "Cost", "Convs"}


def format_usd(value: Decimal | None) -> str:
    """Dollars to four places, rounded half-even, e.g. ``$1,234.5678``; ``n/a`` when unpriced."""
    if value is None:
        return "n/a"
    if 0 < value < _CENT_HUNDREDTHS / 2:
        return "<$0.0001"  # would round to $0.0000 and read as free
    return f"${value.quantize(_CENT_HUNDREDTHS, rounding=ROUND_HALF_EVEN):,}"


def format_amount(value: Decimal | None, currency: str) -> str:
    """An amount in ``currency`` to four places, rounded half-even, e.g. ``EUR 1,234.5678``; ``n/a`` when unknown."""
    if value is None:
        return "n/a"
    if 0 < value < _CENT_HUNDREDTHS / 2:
        return f"<{currency} 0.0001"
    return f"{currency} {value.quantize(_CENT_HUNDREDTHS, rounding=ROUND_HALF_EVEN):,}"


class Costed(Protocol):
    """A report row with a USD cost and, in a ``--currency`` report, that cost converted."""

    @property
    def cost_usd(self) -> Decimal | None: ...
    @property
    def converted(self) -> Converted | None: ...


def format_converted(cost_usd: Decimal | None, converted: Converted | None, currency: str | None) -> str:
    """A cost as a report shows it: USD, or in ``currency`` with what could not be converted named beside it,
    e.g. ``EUR 1.8400 + $0.5000 (no EUR rate)``."""
    if currency is None or converted is None:
        return format_usd(cost_usd)
    text = format_amount(converted.cost, currency)
    if converted.unconverted_calls:
        text += f" + {format_usd(converted.unconverted_cost_usd)} (no {currency} rate)"
    return text


def format_cost(row: Costed, currency: str | None) -> str:
    """``row``'s cost in the report's currency (see :func:`format_converted`)."""
    return format_converted(row.cost_usd, row.converted, currency)


def cost_title(currency: str | None) -> str:
    """The title of a cost column: ``Cost`` (USD), or ``Cost (EUR)``."""
    return f"Cost ({currency})" if currency else "Cost"


def decimal_text(value: Decimal) -> str:
    """Exact, without exponent or trailing zeros: Decimal('1.500000') -> '1.5'."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def report_to_json(report: Report | GroupedReport) -> str:
    """The report as JSON: the same data the tables show, money as exact decimal strings.

    A ``--currency`` report adds ``"currency": "EUR"`` and, beside each ``cost_usd``, ``converted``:
    the cost in that currency and what could not be converted. A USD report has neither key.
    """
    factory = dict if report.currency else _without_conversion
    return json.dumps(dataclasses.asdict(report, dict_factory=factory), default=_json_default, indent=2)


def _without_conversion(items: list[tuple[str, object]]) -> dict[str, object]:
    # A USD report's conversion fields are all None: leave them out so its JSON stays as it was.
    return {k: v for k, v in items if not (k == "currency" or k.startswith("converted"))}


def _n(value: int) -> str:
    return f"{value:,}"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, title_style="bold")
    for column in columns:
        # Text columns left, numbers right: the first word tells which.
        numeric = column.partition(" ")[0] in {
            "Calls",
            "Unpriced",
            "Failed",
            "Input",
            "Cache",
            "Output",
            "Cost",
            "Convs",
        }
        table.add_column(column, justify="right" if numeric else "left")
    return table


def summary_rows(totals: Totals, period: Period, currency: str | None = None) -> list[tuple[str, str]]:
    """The totals as (label, value) lines: the head of every report format that people read."""
    t = totals
    priced_share = f" ({t.priced_calls / t.calls:.1%})" if t.calls else ""
    first_last = f"{t.first_call_at:%Y-%m-%d %H:%M} to {t.last_call_at:%Y-%m-%d %H:%M} UTC" if t.last_call_at else "-"
    return [
        ("Period", period.label()),
        ("Calls", _n(t.calls)),
        ("Priced calls", _n(t.priced_calls) + priced_share),
        ("Unpriced calls", _n(t.unpriced_calls) + (" (cost unknown, not $0; see below)" if t.unpriced_calls else "")),
        ("Failed calls", _n(t.failed_calls)),
        ("Duplicate spans (not counted)", _n(t.duplicate_calls)),
        ("Input tokens", _n(t.input_tokens)),
        ("  of which cache read", _n(t.cache_read_tokens)),
        ("  of which cache write", _n(t.cache_write_tokens)),
        ("Output tokens", _n(t.output_tokens)),
        ("  of which reasoning", _n(t.reasoning_tokens)),
        ("Total cost (priced calls)", format_cost(t, currency)),
        *_conversion_rows(t, currency),
        ("First and last call", first_last),
        ("Price catalog", ", ".join(t.price_versions) or "-"),
    ]


def _conversion_rows(t: Totals, currency: str | None) -> list[tuple[str, str]]:
    """In a --currency report: the USD total, and what could not be converted (never left out silently)."""
    if currency is None or t.converted is None:
        return []
    c = t.converted
    missing = (
        f"{_n(c.unconverted_calls)} priced call{'s' if c.unconverted_calls != 1 else ''}, "
        f"{format_usd(c.unconverted_cost_usd)}, on days before the first {currency} rate: shown in USD, not converted"
        if c.unconverted_calls
        else f"none: every priced call's day has a {currency} rate"
    )
    return [
        ("Total cost in USD", format_usd(t.cost_usd)),
        (f"Not converted to {currency}", missing),
    ]


def month_to_date_text(mtd: MonthToDate, currency: str | None = None) -> str:
    """E.g. ``$12.3400 in 2026-11 (21.1 of 30 days), projected $17.5400; last month $15.0000``."""
    unpriced = f", plus {_n(mtd.unpriced_calls)} unpriced calls" if mtd.unpriced_calls else ""
    cost = format_converted(mtd.cost_usd, mtd.converted, currency)
    previous = format_converted(mtd.previous_month_cost_usd, mtd.converted_previous_month, currency)
    projected = format_usd(mtd.projected_cost_usd)
    if currency is not None and mtd.converted is not None:
        projected = format_amount(mtd.converted_projected, currency)
        if mtd.converted.unconverted_calls:
            projected += " (of the converted part)"
    return (
        f"{cost} in {mtd.month:%Y-%m} ({mtd.days_elapsed:.1f} of {mtd.days_in_month} days)"
        f"{unpriced}, projected {projected}; last month {previous}"
    )


def render_report(report: Report, console: Console) -> None:
    """Print the report as tables."""
    summary = _table(f"LLM cost: {report.db_path}", "", "")
    summary.show_header = False
    cur = report.currency
    for label, value in summary_rows(report.totals, report.period, cur):
        summary.add_row(label, value)
    summary.add_row("Month to date", month_to_date_text(report.month_to_date, cur))
    console.print(summary)

    _render_daily(report, console)

    services = _table(
        "Cost by service", "Service", "Environment", "Calls", "Unpriced", "Input", "Output", cost_title(cur)
    )
    for g in report.by_service:
        services.add_row(
            g.name or "(none)", g.environment or "", _n(g.calls), _n(g.unpriced_calls), _n(g.input_tokens),
            _n(g.output_tokens), format_cost(g, cur),
        )  # fmt: skip
    console.print(services)

    users = _table(
        f"Top {len(report.top_users)} users", "User", "Calls", "Unpriced", "Convs", "Input", "Output", cost_title(cur)
    )
    for g in report.top_users:
        users.add_row(
            g.name or "", _n(g.calls), _n(g.unpriced_calls), _n(g.conversations), _n(g.input_tokens),
            _n(g.output_tokens), format_cost(g, cur),
        )  # fmt: skip
    console.print(users)

    conversations = _table(
        f"Top {len(report.top_conversations)} conversations", "Conversation", "User", "Models", "Calls", "Input",
        "Output", cost_title(cur),
    )  # fmt: skip
    for c in report.top_conversations:
        conversations.add_row(
            c.conversation_id, c.user_id or "", ", ".join(c.models), _n(c.calls), _n(c.input_tokens),
            _n(c.output_tokens), format_cost(c, cur),
        )  # fmt: skip
    console.print(conversations)

    _render_unpriced(report.unpriced, console)


def _render_daily(report: Report, console: Console) -> None:
    """Cost per day (a column per provider), then per provider and model over the same window."""
    window, cur = report.window.label(), report.currency
    providers = sorted({provider for day in report.by_day for provider in day.cost_by_provider})
    by_day = _table(f"Cost by day, {window}", "Day", "Calls", "Unpriced", *providers, cost_title(cur))
    for provider_column in by_day.columns[3 : 3 + len(providers)]:
        provider_column.justify = "right"
    for d in report.by_day:
        by_provider = d.converted_by_provider or {}
        costs = [
            format_converted(d.cost_by_provider[p], by_provider.get(p), cur) if p in d.cost_by_provider else ""
            for p in providers
        ]
        by_day.add_row(f"{d.day:%Y-%m-%d}", _n(d.calls), _n(d.unpriced_calls), *costs, format_cost(d, cur))
    if not report.by_day:
        by_day.caption = "No calls in this window."
    console.print(by_day)

    by_model = _table(
        f"Cost by provider and model, {window}", "Provider", "Model", "Calls", "Unpriced", "Input", "Cache read",
        "Cache write", "Output", cost_title(cur),
    )  # fmt: skip
    for m in report.by_model:
        by_model.add_row(
            m.provider or "(none)", m.model or "(none)", _n(m.calls), _n(m.unpriced_calls), _n(m.input_tokens),
            _n(m.cache_read_tokens), _n(m.cache_write_tokens), _n(m.output_tokens), format_cost(m, cur),
        )  # fmt: skip
    console.print(by_model)


def group_label(report: GroupedReport, row: GroupRow) -> str:
    """A group's name as shown: the calls without a key are '(no user)', '(no agent)', ..."""
    return row.key if row.key is not None else f"(no {report.by})"


def render_grouped(report: GroupedReport, console: Console) -> None:
    """Print ``report --by``: totals, one row per group (the rest summed), then the unpriced calls."""
    summary = _table(f"LLM cost by {report.by}: {report.db_path}", "", "")
    summary.show_header = False
    for label, value in summary_rows(report.totals, report.period, report.currency):
        summary.add_row(label, value)
    console.print(summary)

    spec = GROUP_KEYS[report.by]
    detail = [spec.detail_title] if spec.detail_title else []
    table = _table(
        f"Cost by {report.by}", spec.title, *detail, "Calls", "Unpriced", "Failed", "Input", "Cache read", "Output",
        cost_title(report.currency),
    )  # fmt: skip
    for row in report.rows:
        table.add_row(
            group_label(report, row), *([row.detail or ""] if detail else []), *_group_cells(row, report.currency)
        )
    if report.rest is not None:
        rest = f"({_n(report.rest_groups)} more)"
        table.add_row(rest, *([""] if detail else []), *_group_cells(report.rest, report.currency), style="dim")
    if report.rows:
        table.add_section()
        total = _group_cells(totals_row(report.totals), report.currency)
        table.add_row("Total", *([""] if detail else []), *total, style="bold")
    else:
        table.caption = "No calls in this period."
    console.print(table)
    _render_unpriced(report.unpriced, console)


def _group_cells(row: GroupRow, currency: str | None) -> list[str]:
    return [
        _n(row.calls), _n(row.unpriced_calls), _n(row.failed_calls), _n(row.input_tokens),
        _n(row.cache_read_tokens), _n(row.output_tokens), format_cost(row, currency),
    ]  # fmt: skip


def totals_row(t: Totals) -> GroupRow:
    """The totals in the shape of a group, for the Total line of a table."""
    return GroupRow(
        None, None, t.calls, t.priced_calls, t.unpriced_calls, t.failed_calls, t.input_tokens, t.cache_read_tokens,
        t.cache_write_tokens, t.output_tokens, t.reasoning_tokens, t.cost_usd, t.converted,
    )  # fmt: skip


def _render_unpriced(groups: list[UnpricedGroup], console: Console) -> None:
    unpriced = _table("Unpriced calls", "Provider", "Model", "Status", "Calls", "Input", "Cache read", "Output")
    for u in groups:
        unpriced.add_row(
            u.provider or "", u.model or "(none)", u.pricing_status, _n(u.calls), _n(u.input_tokens),
            _n(u.cache_read_tokens), _n(u.output_tokens),
        )  # fmt: skip
    if not groups:
        unpriced.caption = "None: every call has a price."
    console.print(unpriced)
