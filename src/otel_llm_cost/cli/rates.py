"""``otel-llm-cost rates``: load exchange rates from a file, and list them."""

from __future__ import annotations

import json
from pathlib import Path

import click
import duckdb
from rich.table import Table

from otel_llm_cost import currency, migrations
from otel_llm_cost.cli._common import console, db_option, format_option
from otel_llm_cost.cli._options import decimal_text
from otel_llm_cost.report import ReportError, open_database
from otel_llm_cost.store import DuckDBStore, StoreUnavailable


@click.group("rates")
def rates_group() -> None:
    """Load and list exchange rates.

    Rates let commands and views show costs in other currencies; costs stay in USD. A rate says
    how many units of a currency one US dollar buys on a day; each day's costs convert at that
    day's rate, or the latest earlier one.

    \b
    Examples:
      otel-llm-cost rates load rates.csv     # header: currency,day,units_per_usd
      otel-llm-cost rates list               # one line per currency
      otel-llm-cost rates list --currency EUR
      otel-llm-cost whatif --model gpt-5-mini --currency EUR
    """


@rates_group.command("load")
@db_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def load_command(db_path: str, file: Path) -> None:
    """Load rates from a CSV or JSON file.

    \b
    CSV:  currency,day,units_per_usd        JSON: [{"currency": "EUR", "day": "2025-03-01",
          EUR,2025-03-01,0.9234                    "units_per_usd": "0.9234"}, ...]

    A rate already stored for the same currency and day is replaced. A file with any bad line is
    refused as a whole, and the error names the line.
    """
    try:
        rates = currency.read_rates_file(file)
    except currency.RatesError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        store = DuckDBStore(db_path)
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        written = currency.store_rates(store.con, rates, source=file.name)
    except duckdb.Error as exc:
        raise click.ClickException(f"cannot store the rates: {str(exc).splitlines()[0]}") from exc
    finally:
        store.close()
    currencies = sorted({r.currency for r in rates})
    days = sorted({r.day for r in rates})
    click.echo(f"Loaded {written:,} rates for {', '.join(currencies)} from {days[0]} to {days[-1]} into {db_path}.")


@rates_group.command("list")
@db_option
@click.option("--currency", "code", help="Every rate of this currency, by day, instead of a summary.")
@format_option("A table for people, JSON (rates as exact decimal strings) for programs.")
def list_command(db_path: str, code: str | None, output_format: str) -> None:
    """Show the loaded rates, per currency or by day."""
    try:
        con = open_database(db_path)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if code:
            try:
                by_day = currency.rates_for(con, code)
            except currency.UnknownCurrency as exc:
                raise click.ClickException(str(exc)) from exc
            rows = [{"day": day.isoformat(), "units_per_usd": decimal_text(rate)} for day, rate in by_day]
        else:
            rows = [
                {
                    "currency": c,
                    "days": n,
                    "first_day": first.isoformat(),
                    "last_day": last.isoformat(),
                    "latest_units_per_usd": decimal_text(latest),
                }
                for c, n, first, last, latest in con.execute(
                    "SELECT currency, count(*), min(day), max(day), arg_max(units_per_usd, day)"
                    " FROM exchange_rates GROUP BY currency ORDER BY currency"
                ).fetchall()
            ]
    finally:
        con.close()
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No exchange rates in {db_path}; load some with: otel-llm-cost rates load FILE")
        return
    title = f"{code.upper()} per US dollar" if code else "Exchange rates (units of the currency per US dollar)"
    table = Table(title=title, title_justify="left")
    for column in rows[0]:
        table.add_column(column.replace("_", " "), justify="left" if column in ("currency", "day") else "right")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    console().print(table)
