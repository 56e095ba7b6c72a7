"""The ``otel-llm-cost`` command: ``demo``, ``report``, ``migrate`` and ``health``.

Each command is a thin shell: the work is in :mod:`otel_llm_cost.demo`, :mod:`otel_llm_cost.report`
and :mod:`otel_llm_cost.migrations`. Whatever a user can get wrong (a missing file, a locked
database, an unknown migration number) ends as a ``click.ClickException``: one line, exit code 1,
no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import duckdb
from rich.console import Console
from rich.table import Table

import otel_llm_cost
from otel_llm_cost import health, migrations
from otel_llm_cost import report as reporting
from otel_llm_cost._report_render import render_report, report_to_json
from otel_llm_cost.demo import DEFAULT_CALLS, DEFAULT_SEED, MAX_CALLS, SERVICES, run_demo
from otel_llm_cost.environment_variables import OTEL_LLM_COST_DB
from otel_llm_cost.processor import DEFAULT_DB_PATH
from otel_llm_cost.store import DuckDBStore, StoreUnavailable

F = TypeVar("F", bound=Callable[..., Any])
# Piped output has no terminal width; rich would squeeze the tables to 80 columns.
_PIPE_WIDTH = 160


def _db_option(function: F) -> F:
    return click.option(
        "--db",
        "db_path",
        default=DEFAULT_DB_PATH,
        show_default=True,
        envvar=OTEL_LLM_COST_DB,
        show_envvar=True,
        type=click.Path(dir_okay=False),
        help="DuckDB file.",
    )(function)


def _format_option(help_text: str) -> Callable[[F], F]:
    """``--format table|json``, the output switch of every reading command."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help=help_text,
    )


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=_PIPE_WIDTH)
    return console


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(otel_llm_cost.__version__, prog_name="otel-llm-cost")
def cli() -> None:
    """Price the LLM calls in your OpenTelemetry traces and report on them.

    \b
    Examples:
      otel-llm-cost demo                     # synthetic workload into ./llm-cost.duckdb, then a report
      otel-llm-cost report --db app.duckdb   # cost by day, model, service, user and conversation
      otel-llm-cost report --format json     # the same data, machine-readable
      otel-llm-cost migrate --list           # which schema migrations are applied
      otel-llm-cost health                   # rows, last write, spans lost, file size
    """


@cli.command()
@_db_option
@click.option(
    "--calls",
    type=click.IntRange(1, MAX_CALLS),
    default=DEFAULT_CALLS,
    show_default=True,
    help="How many LLM calls to generate.",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Random seed. The same seed makes the same spans, so a re-run stores nothing twice.",
)
def demo(db_path: str, calls: int, seed: int) -> None:
    """Store a synthetic LLM workload, then report.

    Five services make exactly --calls provider calls over the last 14 days through the real
    OpenTelemetry SDK and one LLMCostSpanProcessor: agents with prompt caching, reasoning models,
    embeddings, retries and failures, and a model with no known price.
    """
    click.echo(f"Running {calls:,} LLM calls from {len(SERVICES)} services through OpenTelemetry into {db_path} ...")
    try:
        result = run_demo(db_path, calls=calls, seed=seed)
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Generated {result.calls:,} calls in {result.traces:,} traces ({result.failed_calls:,} failed, "
        f"{result.unknown_model_calls:,} to a model without a price) plus {result.aggregate_spans:,} agent/tool "
        f"spans and {result.other_spans:,} HTTP/queue spans, which are not calls, in {result.seconds:.1f} s."
    )
    click.echo(f"{result.stored:,} new calls stored, {result.already_present:,} already present.")
    missing = result.calls - result.stored - result.already_present
    if missing:
        # Dropped by a full queue or a failed write, or never recorded (OTEL_SDK_DISABLED=true).
        click.echo(f"Warning: {missing:,} calls did not reach the database; see the log.", err=True)
    click.echo()
    _print_report(db_path, output_format="table", days=14, top=10)


@cli.command()
@_db_option
@_format_option("Tables for people, JSON (money as exact decimal strings) for programs.")
@click.option("--days", type=click.IntRange(1, 3660), default=14, show_default=True, help="Days in the daily table.")
@click.option(
    "--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Users and conversations listed."
)
def report(db_path: str, output_format: str, days: int, top: int) -> None:
    """Print cost by day, model, service and user.

    Also totals, the most expensive conversations, and the calls that could not be priced. The
    database is opened read-only.
    """
    _print_report(db_path, output_format=output_format, days=days, top=top)


def _print_report(db_path: str, *, output_format: str, days: int, top: int) -> None:
    try:
        con = reporting.open_database(db_path)
    except reporting.ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        data = reporting.build_report(con, days=days, top=top)
    finally:
        con.close()
    if output_format == "json":
        click.echo(report_to_json(data))
    else:
        render_report(data, _console())


@cli.command("migrate")
@_db_option
@click.option("--list", "list_only", is_flag=True, help="Show each migration as applied or pending; change nothing.")
@click.option(
    "--to",
    "target",
    type=click.IntRange(min=0),
    help="Migrate up or down to migration number N (0 rolls everything back). Default: the newest.",
)
def migrate_command(db_path: str, list_only: bool, target: int | None) -> None:
    """Create, upgrade or roll back the schema.

    Each migration runs in one transaction with its record. With no option, applies every pending one.
    """
    try:
        known = migrations.load_migrations()
    except migrations.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    if list_only:
        if target is not None:
            raise click.UsageError("--list and --to cannot be used together")
        _list_migrations(db_path, known)
        return
    folder = Path(db_path).expanduser().resolve().parent
    if not folder.is_dir():
        raise click.ClickException(f"cannot create {db_path}: folder {folder} does not exist")
    try:
        con = duckdb.connect(db_path)
    except duckdb.Error as exc:
        raise click.ClickException(f"cannot open {db_path}: {str(exc).splitlines()[0]}") from exc
    try:
        steps = migrations.migrate(con, to=target, migrations=known)
        current = migrations.applied(con)
    except (migrations.MigrationError, duckdb.Error) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        con.close()
    for step in steps:
        click.echo(f"{step.replace(' ', ': ', 1)}")  # "up: 0001_initial"
    at = current[-1] if current else "0 (no migrations applied)"
    click.echo(f"{db_path} is at {at}." if steps else f"Nothing to do: {db_path} is already at {at}.")


def _list_migrations(db_path: str, known: list[migrations.Migration]) -> None:
    if not Path(db_path).exists():
        # Never create the file here: listing is read-only, and so is the answer.
        click.echo(f"{db_path} does not exist; every migration is pending.")
        done: list[str] = []
    else:
        try:
            con = duckdb.connect(db_path, read_only=True)
        except duckdb.Error as exc:
            raise click.ClickException(f"cannot open {db_path}: {str(exc).splitlines()[0]}") from exc
        try:
            done = migrations.applied(con)
        finally:
            con.close()
    for migration in known:
        click.echo(f"{'applied' if migration.name in done else 'pending'}  {migration.name}")
    for name in sorted(set(done) - {m.name for m in known}):
        click.echo(f"unknown  {name}  (written by a newer otel-llm-cost)")


@cli.command("health")
@_db_option
@_format_option("A summary for people, JSON for monitoring.")
def health_command(db_path: str, output_format: str) -> None:
    """Check rows, last write, lost spans and size.

    Drops are what each writing process recorded (queue full, failed writes, unreadable spans).
    The database is opened read-only.
    """
    try:
        store = DuckDBStore(db_path, read_only=True)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = health.check(store.con, db_path)
    finally:
        store.close()
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), default=str, indent=2))
        return
    console = _console()
    table = Table(show_header=False, box=None, title=f"LLM cost database: {result.path}", title_justify="left")
    pending = (
        f" ({len(result.pending_migrations)} pending: run otel-llm-cost migrate)" if result.pending_migrations else ""
    )
    share = f" ({result.unpriced_calls / result.calls:.1%})" if result.calls else ""
    rows = [
        ("Schema", f"{result.schema or 'none'}{pending}"),
        ("Calls", f"{result.calls:,}"),
        ("Unpriced calls", f"{result.unpriced_calls:,}{share}"),
        ("Duplicate spans", f"{result.duplicate_calls:,}"),
        ("Agent runs", f"{result.agent_runs:,}"),
        ("Calls between", f"{result.first_call} and {result.last_call}" if result.calls else "-"),
        ("Last write", str(result.last_write or "-")),
        ("Spans lost before storage", f"{result.lost:,}"),
        ("File size", f"{result.file_bytes:,} bytes (+ {result.wal_bytes:,} in the WAL)"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if result.processes:
        writers = Table(title="Writing processes (most recent first)", title_justify="left")
        for column in ("host", "pid", "updated", "processed", "stored", "queue full", "write failed", "unreadable"):
            writers.add_column(column, justify="right" if column not in ("host", "updated") else "left")
        for p in result.processes:
            writers.add_row(
                p.host or "-", str(p.pid), str(p.updated_at), f"{p.processed:,}", f"{p.stored:,}",
                f"{p.dropped_queue_full:,}", f"{p.store_failed:,}", f"{p.malformed:,}",
            )  # fmt: skip
        console.print(writers)
