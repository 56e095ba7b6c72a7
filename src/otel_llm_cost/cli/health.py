"""``otel-llm-cost health``: schema, rows, last write, lost spans and file size of a cost database."""

from __future__ import annotations

import dataclasses
import json

import click
from rich.table import Table

from otel_llm_cost import health
from otel_llm_cost.cli._common import console, db_option, format_option
from otel_llm_cost.cli.ducklake import open_lake_for_reading, store_options
from otel_llm_cost.ducklake import DuckLakeStore
from otel_llm_cost.store import DuckDBStore, StoreUnavailable


@click.command("health")
@db_option
@store_options()
@format_option("A summary for people, JSON for monitoring.")
def health_command(db_path: str, store_spec: str | None, data_path: str | None, output_format: str) -> None:
    """Check rows, last write, lost spans and size.

    Drops are what each writing process recorded (queue full, failed writes, unreadable spans).
    The database is opened read-only.
    """
    try:
        store: DuckDBStore | DuckLakeStore = (
            open_lake_for_reading(store_spec, data_path) if store_spec else DuckDBStore(db_path, read_only=True)
        )
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = health.check(store.con, store.path)
    finally:
        store.close()
    if isinstance(store, DuckLakeStore):  # a DSN (without its password), not a file to resolve and measure
        result = dataclasses.replace(result, path=store.path)
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
