"""``report --html out.html``: one self-contained page with charts, readable offline.

The charts are Plotly figures; the page carries Plotly's own JavaScript bundle inline
(``plotly.offline.get_plotlyjs()``), so it loads nothing from the network, and each figure is
written by ``plotly.io.to_html``, which also escapes the data (a hostile user id cannot end the
script). Plotly is an optional dependency: ``pip install 'otel-llm-cost[html]'``.

Charts plot floats, which is all a chart can draw; the exact ``Decimal`` totals are in the table at
the top of the page. Unpriced calls are charted as such, never as $0.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb

from otel_llm_cost._report_currency import RATES_SQL, convert_sql
from otel_llm_cost._report_period import Period
from otel_llm_cost._report_render import format_amount, format_usd, month_to_date_text, summary_rows
from otel_llm_cost._report_rows import Report
from otel_llm_cost.report import query

# Stacked charts keep the most expensive models and fold the others into one series.
_MAX_SERIES = 8
_DAY_MS = 86_400_000
_PRICED_UNPRICED = ["#636efa", "#ef553b"]  # the same two colours in both rings
CHART_IDS = ("cost-over-time", "top-users", "cache-savings", "tokens-by-kind", "unpriced-share")


class HtmlUnavailable(RuntimeError):
    """Plotly, which draws the charts, is not installed."""


@dataclass(frozen=True)
class CacheSavings:
    """One model's row of ``llm_cache_savings`` summed over the window's days."""

    provider: str | None
    model: str | None
    calls: int
    unpriced_calls: int
    cache_read_tokens: int
    cache_read_savings_usd: Decimal | None
    cache_write_premium_usd: Decimal | None
    net_savings_usd: Decimal | None


def cache_savings(con: duckdb.DuckDBPyConnection, window: Period, currency: str | None = None) -> list[CacheSavings]:
    """Savings per provider and model over the UTC days that ``window`` touches, largest first.

    With ``currency``, the amounts are in it: each day's at that day's rate. Days before the
    currency's first rate are left out of the chart (the page's totals count them).
    """
    day = "day" if currency is None else "s.day"
    conditions: list[str] = ["true"]
    params: list[Any] = []
    if window.since is not None:
        conditions.append(f"{day} >= ?")
        params.append(window.since.date())
    if window.until is not None:
        conditions.append(f"{day} <= ?")
        params.append((window.until - timedelta(microseconds=1)).date())  # until is exclusive
    amounts = ("cache_read_savings_usd", "cache_write_premium_usd", "net_savings_usd")
    if currency is None:
        source, money = "llm_cache_savings", [f"sum({a})" for a in amounts]
    else:
        # One row per day and model: each converts at its day's rate (ASOF: the latest on or before it).
        source = f"llm_cache_savings s ASOF JOIN {RATES_SQL} r ON s.day >= r.day"
        money = [f"sum({convert_sql('s.' + a, 'r.units_per_usd')})" for a in amounts]
        params = [currency, *params]
    rows = query(
        con,
        f"""
        SELECT provider, model, sum(calls), sum(unpriced_calls), coalesce(sum(cache_read_tokens), 0),
               {", ".join(money)}
        FROM {source}
        WHERE {" AND ".join(conditions)}
        GROUP BY ALL
        ORDER BY 8 DESC NULLS LAST, provider NULLS LAST, model NULLS LAST
        """,
        params,
    )
    return [CacheSavings(*row) for row in rows]


def render_html(report: Report, savings: list[CacheSavings], *, generated_at: datetime) -> str:
    """The whole page: a totals table and five charts.

    Raises:
        HtmlUnavailable: plotly is not installed.
    """
    try:
        import plotly.io as pio
        from plotly.offline import get_plotlyjs
    except ImportError as exc:
        raise HtmlUnavailable(
            "the HTML report needs plotly: pip install 'otel-llm-cost[html]' (or pip install plotly)"
        ) from exc
    figures = {
        "cost-over-time": _cost_over_time(report),
        "top-users": _top_users(report),
        "cache-savings": _cache_savings(savings, report.currency),
        "tokens-by-kind": _tokens_by_kind(report),
        "unpriced-share": _unpriced_share(report),
    }
    charts = "\n".join(
        f'<section class="chart" id="{chart_id}">'
        + pio.to_html(figure, full_html=False, include_plotlyjs=False, config={"displaylogo": False})
        + "</section>"
        for chart_id, figure in figures.items()
    )
    cur = report.currency
    rows = [
        *summary_rows(report.totals, report.period, cur),
        ("Month to date", month_to_date_text(report.month_to_date, cur)),
    ]
    summary = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    title = f"LLM cost: {report.db_path}"
    return _PAGE.format(
        title=html.escape(title),
        plotly_js=get_plotlyjs(),
        generated=f"{generated_at:%Y-%m-%d %H:%M} UTC",
        window=html.escape(report.window.label()),
        summary=summary,
        charts=charts,
    )


def _figure(traces: list[dict[str, Any]], title: str, **layout: Any) -> dict[str, Any]:
    """A Plotly figure as a plain dict (plotly.io accepts it and validates it)."""
    return {"data": traces, "layout": {"title": {"text": title}, "margin": {"t": 60}, **layout}}


def _axis(currency: str | None) -> dict[str, Any]:
    """Plotly axis settings for money: dollars, or the currency's code."""
    return {"tickprefix": "$"} if currency is None else {"ticksuffix": f" {currency}"}


def _hover(currency: str | None) -> str:
    return "%{y:$.4f}" if currency is None else f"%{{y:.4f}} {currency}"


def _cost_over_time(report: Report) -> dict[str, Any]:
    # Model totals over the window pick which models get a series of their own.
    totals: dict[str, Decimal] = {}
    for row in report.daily:
        totals[row.model or "(none)"] = totals.get(row.model or "(none)", Decimal(0)) + (row.cost_usd or 0)
    kept = sorted(totals, key=lambda m: totals[m], reverse=True)[:_MAX_SERIES]
    series: dict[str, dict[str, float]] = {}
    cur = report.currency
    for row in report.daily:
        cost = row.cost_usd if cur is None else row.converted.cost if row.converted else None
        if cost is None:
            continue  # unknown cost is not $0 (unpriced calls have their own chart, unconverted the totals)
        model = row.model or "(none)"
        name = model if model in kept else "other models"
        by_day = series.setdefault(name, {})
        day = row.day.isoformat()
        by_day[day] = by_day.get(day, 0.0) + float(cost)
    days = {row.day for row in report.daily}
    traces = [
        {"type": "bar", "name": name, "x": list(points), "y": list(points.values()), "hovertemplate": _hover(cur)}
        for name, points in series.items()
    ]
    return _figure(
        traces,
        f"Cost per day by model, {report.window.label()}",
        barmode="stack",
        yaxis={"title": {"text": cur or "USD"}, **_axis(cur)},
        # One tick per day while they fit; Plotly picks for longer windows.
        xaxis={"type": "date", "tickformat": "%b %-d", **({"dtick": _DAY_MS} if len(days) <= 31 else {})},
    )


def _top_users(report: Report) -> dict[str, Any]:
    cur = report.currency
    costs = [(u, u.cost_usd if cur is None else u.converted.cost if u.converted else None) for u in report.top_users]
    users = [(u, cost) for u, cost in costs if cost is not None][::-1]  # largest on top
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [float(cost) for _, cost in users],
        "y": [u.name or "" for u, _ in users],
        "hovertemplate": "%{y}: " + _hover(cur).replace("%{y", "%{x") + "<extra></extra>",
    }
    return _figure([trace], f"Top {len(users)} users by cost", xaxis=_axis(cur), yaxis={"type": "category"})


def _cache_savings(savings: list[CacheSavings], currency: str | None = None) -> dict[str, Any]:
    priced = [s for s in savings if s.net_savings_usd is not None][:_MAX_SERIES]
    names = [s.model or "(none)" for s in priced]
    traces = [
        {"type": "bar", "name": "saved on cache reads", "x": names,
         "y": [float(s.cache_read_savings_usd or 0) for s in priced]},
        {"type": "bar", "name": "extra paid for cache writes", "x": names,
         "y": [-float(s.cache_write_premium_usd or 0) for s in priced]},
    ]  # fmt: skip
    net = sum((s.net_savings_usd or Decimal(0) for s in priced), Decimal(0))
    saved = format_usd(net) if currency is None else format_amount(net, currency)
    return _figure(traces, f"Prompt caching saved {saved} (net)", barmode="relative", yaxis=_axis(currency))


def _tokens_by_kind(report: Report) -> dict[str, Any]:
    models = report.by_model[:_MAX_SERIES][::-1]
    names = [f"{m.model or '(none)'}" for m in models]
    # input_tokens includes cache reads and writes: chart the uncached part beside them.
    kinds = {
        "input (uncached)": [max(m.input_tokens - m.cache_read_tokens - m.cache_write_tokens, 0) for m in models],
        "cache read": [m.cache_read_tokens for m in models],
        "cache write": [m.cache_write_tokens for m in models],
        "output": [m.output_tokens for m in models],
    }
    traces = [
        {"type": "bar", "orientation": "h", "name": kind, "x": counts, "y": names} for kind, counts in kinds.items()
    ]
    return _figure(traces, f"Tokens by kind, {report.window.label()}", barmode="stack", yaxis={"type": "category"})


def _unpriced_share(report: Report) -> dict[str, Any]:
    t = report.totals
    unpriced_tokens = sum(u.input_tokens + u.output_tokens for u in report.unpriced)
    all_tokens = t.input_tokens + t.output_tokens
    calls = {
        "type": "pie",
        "hole": 0.5,
        "labels": ["priced", "unpriced"],
        "title": {"text": "calls"},
        "values": [t.priced_calls, t.unpriced_calls],
        "domain": {"x": [0, 0.48]},
        "sort": False,
        "marker": {"colors": _PRICED_UNPRICED},
    }
    tokens = {
        "type": "pie",
        "hole": 0.5,
        "labels": ["priced", "unpriced"],  # the same labels: one legend for both rings
        "title": {"text": "tokens"},
        "values": [all_tokens - unpriced_tokens, unpriced_tokens],
        "domain": {"x": [0.52, 1]},
        "sort": False,
        "marker": {"colors": _PRICED_UNPRICED},
    }
    share = f"{t.unpriced_calls / t.calls:.1%}" if t.calls else "0%"
    return _figure([calls, tokens], f"Unpriced: {share} of calls (cost unknown, not $0)")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; }}
th, td {{ text-align: left; padding: 0.2rem 1rem 0.2rem 0; }}
th {{ font-weight: 600; }}
.chart {{ max-width: 1100px; margin-bottom: 1rem; }}
</style>
<script type="text/javascript">{plotly_js}</script>
</head>
<body>
<h1>{title}</h1>
<p>Generated {generated}; the charts cover {window}.</p>
<table>
{summary}
</table>
{charts}
</body>
</html>
"""
