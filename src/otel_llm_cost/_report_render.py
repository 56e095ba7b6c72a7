"""The cost report rendered: rich tables for people, JSON for programs.

Both take the :class:`~otel_llm_cost.report.Report` that :func:`otel_llm_cost.report.build_report`
returns and show exactly its data; nothing here queries the database. Money is shown to four
places (rounded half-even) in tables and as exact decimal strings in JSON; an unpriced cost is
``n/a`` or ``null``, never $0.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from rich import box
from rich.console import Console
from rich.table import Table

from otel_llm_cost.report import Report

_CENT_HUNDREDTHS = Decimal("0.0001")


def format_usd(value: Decimal | None) -> str:
    """Dollars to four places, rounded half-even, e.g. ``$1,234.5678``; ``n/a`` when unpriced."""
    if value is None:
        return "n/a"
    if 0 < value < _CENT_HUNDREDTHS / 2:
        return "<$0.0001"  # would round to $0.0000 and read as free
    return f"${value.quantize(_CENT_HUNDREDTHS, rounding=ROUND_HALF_EVEN):,}"


def _decimal_text(value: Decimal) -> str:
    """Exact, without exponent or trailing zeros: Decimal('1.500000') -> '1.5'."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def report_to_json(report: Report) -> str:
    """The report as JSON: the same data the tables show, money as exact decimal strings."""
    return json.dumps(dataclasses.asdict(report), default=_json_default, indent=2)


def _n(value: int) -> str:
    return f"{value:,}"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, title_style="bold")
    for column in columns:
        # Text columns left, numbers right: the first word tells which.
        numeric = column.partition(" ")[0] in {"Calls", "Unpriced", "Input", "Cache", "Output", "Cost", "Convs"}
        table.add_column(column, justify="right" if numeric else "left")
    return table


def render_report(report: Report, console: Console) -> None:
    """Print the report as tables."""
    t = report.totals
    summary = _table(f"LLM cost: {report.db_path}", "", "")
    summary.show_header = False
    priced_share = f" ({t.priced_calls / t.calls:.1%})" if t.calls else ""
    for label, value in (
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
        ("Total cost (priced calls)", format_usd(t.cost_usd)),
        (
            "Period",
            f"{t.first_call_at:%Y-%m-%d %H:%M} to {t.last_call_at:%Y-%m-%d %H:%M} UTC" if t.last_call_at else "-",
        ),
        ("Price catalog", ", ".join(t.price_versions) or "-"),
    ):
        summary.add_row(label, value)
    console.print(summary)

    _render_daily(report, console)

    services = _table("Cost by service", "Service", "Environment", "Calls", "Unpriced", "Input", "Output", "Cost")
    for g in report.by_service:
        services.add_row(
            g.name or "(none)", g.environment or "", _n(g.calls), _n(g.unpriced_calls), _n(g.input_tokens),
            _n(g.output_tokens), format_usd(g.cost_usd),
        )  # fmt: skip
    console.print(services)

    users = _table(
        f"Top {len(report.top_users)} users", "User", "Calls", "Unpriced", "Convs", "Input", "Output", "Cost"
    )
    for g in report.top_users:
        users.add_row(
            g.name or "", _n(g.calls), _n(g.unpriced_calls), _n(g.conversations), _n(g.input_tokens),
            _n(g.output_tokens), format_usd(g.cost_usd),
        )  # fmt: skip
    console.print(users)

    conversations = _table(
        f"Top {len(report.top_conversations)} conversations", "Conversation", "User", "Models", "Calls", "Input",
        "Output", "Cost",
    )  # fmt: skip
    for c in report.top_conversations:
        conversations.add_row(
            c.conversation_id, c.user_id or "", ", ".join(c.models), _n(c.calls), _n(c.input_tokens),
            _n(c.output_tokens), format_usd(c.cost_usd),
        )  # fmt: skip
    console.print(conversations)

    unpriced = _table("Unpriced calls", "Provider", "Model", "Status", "Calls", "Input", "Cache read", "Output")
    for u in report.unpriced:
        unpriced.add_row(
            u.provider or "", u.model or "(none)", u.pricing_status, _n(u.calls), _n(u.input_tokens),
            _n(u.cache_read_tokens), _n(u.output_tokens),
        )  # fmt: skip
    if not report.unpriced:
        unpriced.caption = "None: every call has a price."
    console.print(unpriced)


def _render_daily(report: Report, console: Console) -> None:
    """Cost per day (a column per provider), then per provider and model over the same window."""
    window = f"{report.since:%Y-%m-%d} to {report.since + timedelta(days=report.days - 1):%Y-%m-%d}"
    providers = sorted({provider for day in report.by_day for provider in day.cost_by_provider})
    by_day = _table(f"Cost by day, {window} (UTC)", "Day", "Calls", "Unpriced", *providers, "Cost")
    for provider_column in by_day.columns[3 : 3 + len(providers)]:
        provider_column.justify = "right"
    for d in report.by_day:
        costs = [format_usd(d.cost_by_provider[p]) if p in d.cost_by_provider else "" for p in providers]
        by_day.add_row(f"{d.day:%Y-%m-%d}", _n(d.calls), _n(d.unpriced_calls), *costs, format_usd(d.cost_usd))
    if not report.by_day:
        by_day.caption = "No calls in this window."
    console.print(by_day)

    by_model = _table(
        f"Cost by provider and model, {window}", "Provider", "Model", "Calls", "Unpriced", "Input", "Cache read",
        "Cache write", "Output", "Cost",
    )  # fmt: skip
    for m in report.by_model:
        by_model.add_row(
            m.provider or "(none)", m.model or "(none)", _n(m.calls), _n(m.unpriced_calls), _n(m.input_tokens),
            _n(m.cache_read_tokens), _n(m.cache_write_tokens), _n(m.output_tokens), format_usd(m.cost_usd),
        )  # fmt: skip
    console.print(by_model)
