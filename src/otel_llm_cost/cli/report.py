"""``otel-llm-cost report``: cost by day, model, service, user, ... in the terminal, as JSON, CSV,
markdown, or an HTML page with charts."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

import click
import duckdb

from otel_llm_cost import currency as currencies
from otel_llm_cost import report as reporting
from otel_llm_cost._report_groups import GROUP_KEYS, build_grouped
from otel_llm_cost._report_period import Period, PeriodError, parse_period
from otel_llm_cost._report_render import render_grouped, render_report, report_to_json
from otel_llm_cost._report_text import grouped_to_csv, grouped_to_markdown, report_to_markdown
from otel_llm_cost.cli._common import console, db_option, query_log_option
from otel_llm_cost.cli.ducklake import open_lake_for_reading, store_options
from otel_llm_cost.query_log import QueryLog

FORMATS = ("table", "json", "csv", "markdown")


@click.command()
@db_option
@click.option(
    "--since",
    metavar="WHEN",
    help="Only calls that started at or after WHEN: a duration back from now (30m, 24h, 7d, 2w), a date "
    "(2026-11-01, midnight UTC) or a date and time (2026-11-01T12:00, UTC unless it names an offset).",
)
@click.option(
    "--until",
    metavar="WHEN",
    help="Only calls that started before WHEN, as for --since; a date includes that whole day.",
)
@click.option(
    "--by",
    type=click.Choice(list(GROUP_KEYS)),
    help="One table of calls, tokens and cost per model, user, conversation, service, day or agent, "
    "with totals and the unpriced calls. Without it: the overview.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 100_000),
    default=10,
    show_default=True,
    help="Rows listed (users and conversations in the overview); the rest are summed into one line.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Tables for people; JSON (money as exact decimal strings) or CSV for programs; markdown for a pull "
    "request or $GITHUB_STEP_SUMMARY. CSV is one table: --by day unless --by says otherwise.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=14,
    show_default=True,
    help="Without --since/--until: days in the overview's daily and per-model tables.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write a self-contained HTML page with charts (works offline) to this file instead of printing.",
)
@click.option(
    "--currency",
    metavar="CODE",
    help="Show every cost in this currency (EUR, GBP, ...), each day's at that day's rate from "
    "`otel-llm-cost rates load` (or the latest earlier one). Calls before the first rate are counted and "
    "shown in USD, never converted at a guess. Costs are stored in USD, the default.",
)
@query_log_option
@store_options()
def report(
    db_path: str,
    since: str | None,
    until: str | None,
    by: str | None,
    top: int,
    output_format: str,
    days: int,
    html_path: str | None,
    currency: str | None,
    query_log: bool | None,
    store_spec: str | None,
    data_path: str | None,
) -> None:
    """Print cost by day, model, service and user.

    Totals and the calls that could not be priced are always shown; an unknown cost is n/a, never $0.
    The database (or, with --store, the DuckLake) is opened read-only.

    \b
    Examples:
      otel-llm-cost report                                  # overview: last 14 days, services, users
      otel-llm-cost report --since 7d --by model            # last 7 days, one row per model
      otel-llm-cost report --since 2026-11-01 --until 2026-11-30 --by user --top 20
      otel-llm-cost report --since 24h --by day --format csv > cost.csv
      otel-llm-cost report --since 1d --format markdown >> "$GITHUB_STEP_SUMMARY"
      otel-llm-cost report --since 30d --html cost.html     # charts, one file, no network
      otel-llm-cost report --since 30d --by model --currency EUR   # each day at its EUR rate
    """
    now = datetime.now(timezone.utc)
    lake = (store_spec, data_path) if store_spec else None
    try:
        period = parse_period(since, until, now=now)
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from exc
    code = currency.strip().upper() if currency else None
    if code == currencies.USD:
        code = None  # costs are stored in USD: nothing to convert
    if html_path:
        write_html(
            db_path, html_path, period=period, days=days, top=top, now=now, query_log=query_log, lake=lake,
            currency=code,
        )  # fmt: skip
        return
    if output_format == "csv" and by is None:
        by = "day"
    if by is None:
        print_report(
            db_path,
            output_format=output_format,
            days=days,
            top=top,
            period=period,
            now=now,
            query_log=query_log,
            lake=lake,
            currency=code,
        )
        return
    with _open(db_path, query_log, lake) as (con, _), _currency_errors():
        data = build_grouped(con, by, top=top, period=period, currency=code)
    if output_format == "json":
        click.echo(report_to_json(data))
    elif output_format == "csv":
        click.echo(grouped_to_csv(data), nl=False)
    elif output_format == "markdown":
        click.echo(grouped_to_markdown(data), nl=False)
    else:
        render_grouped(data, console())


def print_report(
    db_path: str,
    *,
    output_format: str,
    days: int,
    top: int,
    period: Period | None = None,
    now: datetime | None = None,
    query_log: bool | None = None,
    lake: tuple[str, str | None] | None = None,
    currency: str | None = None,
) -> None:
    """The overview (no ``--by``) in ``output_format``: table, json or markdown."""
    with _open(db_path, query_log, lake) as (con, name), _currency_errors():
        data = reporting.build_report(con, days=days, top=top, period=period, now=now, currency=currency)
        if lake is not None:  # the lake's DSN without its password, not DuckDB's attach path
            data = dataclasses.replace(data, db_path=name)
    if output_format == "json":
        click.echo(report_to_json(data))
    elif output_format == "markdown":
        click.echo(report_to_markdown(data), nl=False)
    else:
        render_report(data, console())


def write_html(
    db_path: str,
    html_path: str,
    *,
    period: Period,
    days: int,
    top: int,
    now: datetime,
    query_log: bool | None = None,
    lake: tuple[str, str | None] | None = None,
    currency: str | None = None,
) -> None:
    """Write the HTML page; say where, and how big, on one line."""
    # Imported here: the HTML module needs plotly, an optional dependency the other formats do not.
    from otel_llm_cost._report_html import CHART_IDS, HtmlUnavailable, cache_savings, render_html

    with _open(db_path, query_log, lake) as (con, name), _currency_errors():
        data = reporting.build_report(con, days=days, top=top, period=period, now=now, currency=currency)
        if lake is not None:  # the lake's DSN without its password, not DuckDB's attach path
            data = dataclasses.replace(data, db_path=name)
        savings = cache_savings(con, data.window, data.currency)
    try:
        page = render_html(data, savings, generated_at=now)
    except HtmlUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    target = Path(html_path)
    try:
        target.write_text(page, "utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {html_path}: {exc.strerror or exc}") from exc
    click.echo(
        f"Wrote {html_path} ({target.stat().st_size / 1e6:.1f} MB, {len(CHART_IDS)} charts, "
        f"{data.totals.calls:,} calls, {data.window.label()}); it needs no network to open."
    )


@contextlib.contextmanager
def _currency_errors() -> Iterator[None]:
    """A currency without rates is a one-line click error naming ``otel-llm-cost rates load``."""
    try:
        yield
    except currencies.UnknownCurrency as exc:
        raise click.ClickException(str(exc.args[0])) from exc


@contextlib.contextmanager
def _open(
    db_path: str, query_log: bool | None = None, lake: tuple[str, str | None] | None = None
) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    """The database read-only and its name, closed afterwards; a one-line click error when it
    cannot be reported on.

    Each query's duration and row count go to ``query_log`` afterwards (unless turned off): the file
    is opened read-write for a moment once the read-only connection is closed. A DuckLake (``lake``:
    its spec and data path) is named by its DSN without the password and keeps no query log.
    """
    if lake is not None:
        store = open_lake_for_reading(*lake)
        try:
            yield store.con, store.path
        finally:
            store.close()
        return
    try:
        con = reporting.open_database(db_path)
    except reporting.ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    log = QueryLog("report", enabled=query_log)
    try:
        # Every report query goes through report.query(): con.execute(...).fetchall() is timed.
        yield (cast(duckdb.DuckDBPyConnection, log.connection(con)) if log.enabled else con), db_path
    finally:
        con.close()
    problem = log.save_to_file(db_path)
    if problem:
        click.echo(problem, err=True)
