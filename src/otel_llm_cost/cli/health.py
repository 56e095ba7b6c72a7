"""``otel-llm-cost health``: schema, rows, last write, lost spans and file size of a cost database."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click
from rich.table import Table

from otel_llm_cost import health
from otel_llm_cost.cli._common import console, db_option, format_option, query_log_option
from otel_llm_cost.cli.ducklake import open_lake_for_reading, store_options
from otel_llm_cost.ducklake import DuckLakeStore
from otel_llm_cost.query_log import QueryLog
from otel_llm_cost.store import DuckDBStore, StoreUnavailable


@click.command("health")
@db_option
@format_option("A summary for people, JSON for monitoring.")
@click.option(
    "--slowest", type=click.IntRange(0, 1000), default=5, show_default=True, help="Slowest logged queries to list."
)
@query_log_option
@store_options()
def health_command(
    db_path: str,
    output_format: str,
    slowest: int,
    query_log: bool | None,
    store_spec: str | None,
    data_path: str | None,
) -> None:
    """Check rows, lost spans, size, slow queries.

    Drops are what each writing process recorded (queue full, failed writes, unreadable spans).
    The slowest queries are those that export, report and health logged in query_log, worst run
    first. The database (or, with --store, the DuckLake) is opened read-only.

    \b
    Examples:
      otel-llm-cost health
      otel-llm-cost health --format json --slowest 20
    """
    # A DuckLake (--store) is not a file: no query log is kept for it.
    log = QueryLog("health", enabled=False if store_spec else query_log)
    try:
        store: DuckDBStore | DuckLakeStore = (
            open_lake_for_reading(store_spec, data_path) if store_spec else DuckDBStore(db_path, read_only=True)
        )
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = health.check(store.con, store.path, log=log, slowest=slowest)
    finally:
        store.close()
    if isinstance(store, DuckLakeStore):  # a DSN (without its password), not a file to resolve and measure
        result = dataclasses.replace(result, path=store.path)
    note = log.save_to_file(db_path)
    if note:
        click.echo(f"Note: {note}", err=True)
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), default=str, indent=2))
        return
    out = console()
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
        ("Last prune", _prune_text(result.last_prune)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
    if result.processes:
        writers = Table(title="Writing processes (most recent first)", title_justify="left")
        for column in ("host", "pid", "updated", "processed", "stored", "queue full", "write failed", "unreadable"):
            writers.add_column(column, justify="right" if column not in ("host", "updated") else "left")
        for p in result.processes:
            writers.add_row(
                p.host or "-", str(p.pid), str(p.updated_at), f"{p.processed:,}", f"{p.stored:,}",
                f"{p.dropped_queue_full:,}", f"{p.store_failed:,}", f"{p.malformed:,}",
            )  # fmt: skip
        out.print(writers)
    if result.slowest_queries:
        queries = Table(title="Slowest queries (query_log, worst run first)", title_justify="left")
        for column in ("source", "name", "runs", "worst ms", "median ms", "rows", "failed", "last run"):
            queries.add_column(column, justify="left" if column in ("source", "name", "last run") else "right")
        for q in result.slowest_queries:
            rows_text = "-" if q["max_rows"] is None else f"{q['max_rows']:,}"
            queries.add_row(
                q["source"], q["name"], f"{q['runs']:,}", f"{q['max_ms']:,.1f}", f"{q['median_ms']:,.1f}", rows_text,
                f"{q['failed']:,}", f"{q['last_run']:%Y-%m-%d %H:%M:%S}",
            )  # fmt: skip
        out.print(queries)


def _prune_text(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    archive = f", archived in {run['archive_dir']}" if run["archive_dir"] else ", not archived"
    return (
        f"{run['ran_at']:%Y-%m-%d %H:%M} UTC by {run['source']}: {run['calls_deleted']:,} calls from before "
        f"{run['cutoff']:%Y-%m-%d %H:%M}{archive}"
    )
