"""``otel-llm-cost reprice``: price stored calls again under the current catalog, or show what would change."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import click
import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from otel_llm_cost import migrations
from otel_llm_cost import reprice as repricing
from otel_llm_cost._report_render import format_usd
from otel_llm_cost._selection import CallFilter
from otel_llm_cost.cli._common import console, db_option, format_option
from otel_llm_cost.cli._options import decimal_text as text
from otel_llm_cost.cli._options import (
    make_pricer,
    parse_period,
    period_options,
    prefer_option,
    prices_file_option,
    signed_usd,
)
from otel_llm_cost.pricing import COMPUTED
from otel_llm_cost.report import ReportError, open_database
from otel_llm_cost.store import DuckDBStore, StoreUnavailable


@click.command("reprice")
@db_option
@period_options
@click.option("--model", help="Only calls to this model (the span's response or request model, or the priced one).")
@click.option("--provider", help="Only calls to this provider (as the span named it, or the priced one).")
@click.option("--unpriced", is_flag=True, help="Only calls without a cost (unknown model, price error, ...).")
@click.option("--dry-run", is_flag=True, help="Show the change per model; write nothing.")
@prefer_option
@prices_file_option
@format_option("A table for people, JSON (money as exact decimal strings) for programs.")
def reprice_command(
    db_path: str,
    since: str | None,
    until: str | None,
    model: str | None,
    provider: str | None,
    unpriced: bool,
    dry_run: bool,
    prefer: str,
    prices_file: str | None,
    output_format: str,
) -> None:
    """Price stored calls again with today's prices.

    Recomputes cost_usd and every cost column of the selected llm_calls rows (all of them without a
    filter) from their stored usage, in one transaction, and records the run per model in
    llm_price_audit. Duplicate rows are re-priced and stay flagged.

    \b
    Examples:
      otel-llm-cost reprice --unpriced --dry-run     # what would a newer catalog price now?
      otel-llm-cost reprice --unpriced               # ... then do it
      otel-llm-cost reprice --model gpt-4o --since 2025-03-01 --until 2025-03-31
      otel-llm-cost reprice --since 7d --provider anthropic
    """
    start, end = parse_period(since, until)
    selection = CallFilter(since=start, until=end, model=model, provider=provider, unpriced=unpriced)
    parts = ["reprice", selection.describe(), "" if prefer == COMPUTED else f"--prefer {prefer}"]
    command = " ".join(part for part in parts if part)
    pricer = make_pricer(prefer, prices_file)  # a bad overrides file fails before the database opens
    con, store = _open(db_path, dry_run=dry_run)
    try:
        total = repricing.count_selected(con, selection)
        with _progress_bar(total) as advance:
            result = repricing.reprice(con, pricer, selection, dry_run=dry_run, command=command, progress=advance)
    except duckdb.Error as exc:
        raise click.ClickException(f"reprice failed and changed nothing: {str(exc).splitlines()[0]}") from exc
    finally:
        if store is not None:
            store.close()
        else:
            con.close()
    if output_format == "json":
        click.echo(json.dumps(_as_json(result), indent=2))
    else:
        _print(result, selection)


def _open(db_path: str, *, dry_run: bool) -> tuple[duckdb.DuckDBPyConnection, DuckDBStore | None]:
    if dry_run:  # read-only: a dry run neither migrates nor locks the file for writing
        try:
            return open_database(db_path), None
        except ReportError as exc:
            raise click.ClickException(str(exc)) from exc
    if not Path(db_path).expanduser().exists():
        raise click.ClickException(f"cannot reprice {db_path}: no such file")
    try:
        store = DuckDBStore(db_path)
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    return store.con, store


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator[repricing.Progress]:
    """A progress bar on stderr when it is a terminal; otherwise nothing is drawn."""
    stderr = Console(stderr=True)
    progress = Progress(
        TextColumn("re-pricing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr, disable=not stderr.is_terminal, transient=True,
    )  # fmt: skip
    task = progress.add_task("reprice", total=total)
    with progress:
        yield lambda done: progress.advance(task, done)


def _print(result: repricing.RepriceResult, selection: CallFilter) -> None:
    out = console()
    what = selection.describe() or "all calls"
    if not result.rows:
        out.print(f"No stored calls match ({what}); nothing to re-price.")
        return
    verb = "Would change" if result.dry_run else "Changed"
    table = Table(title=f"{verb} {result.updated_rows:,} of {result.rows:,} rows ({what})", title_justify="left")
    for column in ("provider", "model", "calls", "changed", "newly priced", "newly unpriced", "old cost", "new cost",
                   "delta"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("provider", "model") else "right")
    for m in result.models:
        delta = m.delta_usd
        table.add_row(
            m.provider or "-", m.model or "-", f"{m.calls:,}", f"{m.changed_calls:,}", f"{m.newly_priced:,}",
            f"{m.newly_unpriced:,}", format_usd(m.old_cost_usd), format_usd(m.new_cost_usd),
            signed_usd(delta),
        )  # fmt: skip
    out.print(table)
    if result.dry_run:
        out.print("Dry run: nothing was written.")
    else:
        out.print(
            f"Recorded as run {result.run_id} in llm_price_audit; {result.new_price_rows:,} new model_prices rows."
        )


def _as_json(result: repricing.RepriceResult) -> dict[str, object]:
    return {
        "run_id": None if result.dry_run else result.run_id,
        "command": result.command,
        "dry_run": result.dry_run,
        "rows": result.rows,
        "updated_rows": result.updated_rows,
        "new_price_rows": result.new_price_rows,
        "models": [
            {
                "provider": m.provider,
                "model": m.model,
                "calls": m.calls,
                "changed_calls": m.changed_calls,
                "newly_priced": m.newly_priced,
                "newly_unpriced": m.newly_unpriced,
                "old_cost_usd": text(m.old_cost_usd),
                "new_cost_usd": text(m.new_cost_usd),
                "delta_usd": text(m.delta_usd),
                "old_price_versions": sorted(m.old_price_versions),
                "new_price_versions": sorted(m.new_price_versions),
            }
            for m in result.models
        ],
    }
