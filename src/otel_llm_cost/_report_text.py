"""The report as CSV (for spreadsheets and scripts) and as markdown (for an issue, a pull request or
``$GITHUB_STEP_SUMMARY``).

CSV is one table: a ``row`` column says whether a line is a ``group``, the ``rest`` past ``--top``, or
the ``total``; money is an exact decimal string and an unpriced cost is empty, never 0. Markdown is a
section headed ``### LLM cost``: totals in one paragraph, the groups as a table, the unpriced calls
in a collapsed ``<details>`` block. Neither queries the database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal

from otel_llm_cost._report_groups import GROUP_KEYS, GroupedReport, GroupRow
from otel_llm_cost._report_render import (
    cost_title,
    decimal_text,
    format_cost,
    format_usd,
    group_label,
    month_to_date_text,
    totals_row,
)
from otel_llm_cost._report_rows import Report, Totals, UnpricedGroup

_COUNT_FIELDS = (
    "calls", "priced_calls", "unpriced_calls", "failed_calls", "input_tokens", "cache_read_tokens",
    "cache_write_tokens", "output_tokens", "reasoning_tokens",
)  # fmt: skip


def grouped_to_csv(report: GroupedReport) -> str:
    """``report --by X --format csv``: a header, one line per group, the rest, and the total."""
    spec = GROUP_KEYS[report.by]
    detail = [spec.detail_title.lower()] if spec.detail_title else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # In a currency: cost_usd, then the converted cost and what could not be converted.
    cur = report.currency
    money = ["cost_usd", *([f"cost_{cur.lower()}", "unconverted_calls", "unconverted_cost_usd"] if cur else [])]
    writer.writerow(["row", report.by, *detail, *_COUNT_FIELDS, *money])
    lines: list[tuple[str, str | None, GroupRow]] = [("group", row.key, row) for row in report.rows]
    if report.rest is not None:
        lines.append(("rest", f"{report.rest_groups} more", report.rest))
    lines.append(("total", None, totals_row(report.totals)))
    for kind, key, row in lines:
        counts = [getattr(row, name) for name in _COUNT_FIELDS]
        amounts = [_csv_money(row.cost_usd)]
        if cur:
            c = row.converted
            amounts += (
                [_csv_money(c.cost), str(c.unconverted_calls), _csv_money(c.unconverted_cost_usd)]
                if c
                else ["", "", ""]
            )
        writer.writerow([kind, key or "", *([row.detail or ""] if detail else []), *counts, *amounts])
    return out.getvalue()


def grouped_to_markdown(report: GroupedReport) -> str:
    """``report --by X --format markdown``: the cost section for a pull request or a CI job summary."""
    spec = GROUP_KEYS[report.by]
    detail = [spec.detail_title] if spec.detail_title else []
    cur = report.currency
    table = [[spec.title, *detail, "Calls", "Unpriced", "Input", "Output", cost_title(cur)]]
    for row in report.rows:
        table.append([group_label(report, row), *([row.detail or ""] if detail else []), *_cells(row, cur)])
    if report.rest is not None:
        table.append([f"({report.rest_groups:,} more)", *([""] if detail else []), *_cells(report.rest, cur)])
    total = _cells(totals_row(report.totals), cur)
    table.append(["**Total**", *([""] if detail else []), *(f"**{c}**" for c in total)])
    lines = [f"### LLM cost by {report.by}", "", _headline(report.totals, report.period.label(), cur), ""]
    lines += _markdown_table(table, numeric_from=1 + len(detail)) if report.rows else ["No calls in this period."]
    return "\n".join(lines + _unpriced_details(report.unpriced)) + "\n"


def report_to_markdown(report: Report) -> str:
    """``report --format markdown`` without ``--by``: totals, cost by model, top users, unpriced calls."""
    lines = [
        "### LLM cost",
        "",
        _headline(report.totals, report.period.label(), report.currency),
        "",
        f"Month to date: {month_to_date_text(report.month_to_date, report.currency)}.",
        "",
        f"#### Cost by model, {report.window.label()}",
        "",
    ]
    cur = report.currency
    models = [["Provider", "Model", "Calls", "Unpriced", "Input", "Output", cost_title(cur)]]
    for m in report.by_model:
        models.append([m.provider or "(none)", m.model or "(none)", f"{m.calls:,}", f"{m.unpriced_calls:,}",
                       f"{m.input_tokens:,}", f"{m.output_tokens:,}", format_cost(m, cur)])  # fmt: skip
    lines += _markdown_table(models, numeric_from=2) if report.by_model else ["No calls in this window."]
    if report.top_users:
        users = [["User", "Calls", "Unpriced", "Input", "Output", cost_title(cur)]]
        for u in report.top_users:
            users.append([u.name or "", f"{u.calls:,}", f"{u.unpriced_calls:,}", f"{u.input_tokens:,}",
                          f"{u.output_tokens:,}", format_cost(u, cur)])  # fmt: skip
        lines += ["", f"#### Top {len(report.top_users)} users", "", *_markdown_table(users, numeric_from=1)]
    return "\n".join(lines + _unpriced_details(report.unpriced)) + "\n"


def _headline(t: Totals, period: str, currency: str | None = None) -> str:
    parts = [f"**{format_cost(t, currency)}** over {t.calls:,} calls ({period})"]
    if currency and t.converted and t.converted.unconverted_calls:
        c = t.converted
        parts.append(
            f"{c.unconverted_calls:,} priced call{'s' if c.unconverted_calls != 1 else ''} "
            f"({format_usd(c.unconverted_cost_usd)}) before the first "
            f"{currency} rate, not converted"
        )
    if t.unpriced_calls:
        plural = "s" if t.unpriced_calls != 1 else ""
        parts.append(f"{t.unpriced_calls:,} unpriced call{plural} (cost unknown, not $0)")
    if t.failed_calls:
        parts.append(f"{t.failed_calls:,} failed")
    parts.append(f"{t.input_tokens:,} input and {t.output_tokens:,} output tokens")
    return " · ".join(parts)


def _unpriced_details(groups: list[UnpricedGroup]) -> list[str]:
    if not groups:
        return ["", "Every call has a price."]
    table = [["Provider", "Model", "Status", "Calls", "Input", "Output"]]
    for u in groups:
        table.append([u.provider or "", u.model or "(none)", u.pricing_status, f"{u.calls:,}", f"{u.input_tokens:,}",
                      f"{u.output_tokens:,}"])  # fmt: skip
    calls = sum(u.calls for u in groups)
    return ["", f"<details><summary>Unpriced calls ({calls:,})</summary>", "", *_markdown_table(table, 3), "",
            "</details>"]  # fmt: skip


def _markdown_table(rows: Sequence[Sequence[str]], numeric_from: int) -> list[str]:
    """A GitHub table; columns from ``numeric_from`` on are right-aligned. Pipes in cells are escaped."""
    header, *body = rows
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in (header, align, *body)]


def _cells(row: GroupRow, currency: str | None) -> list[str]:
    return [f"{row.calls:,}", f"{row.unpriced_calls:,}", f"{row.input_tokens:,}", f"{row.output_tokens:,}",
            format_cost(row, currency)]  # fmt: skip


def _csv_money(value: Decimal | None) -> str:
    return "" if value is None else decimal_text(value)
