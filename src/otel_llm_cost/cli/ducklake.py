"""``otel-llm-cost ducklake``: commands for a DuckLake store (``ducklake maintain``).

``store_options`` adds ``--store`` and ``--data-path`` to a command that opens a store.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.table import Table

from otel_llm_cost import lake_maintenance, migrations
from otel_llm_cost.cli._common import console, format_option
from otel_llm_cost.ducklake import DuckLakeStore
from otel_llm_cost.store import StoreUnavailable
from otel_llm_cost.stores import check_spec, is_lake, open_store

F = TypeVar("F", bound=Callable[..., Any])


def store_options(*, required: bool = False) -> Callable[[F], F]:
    """``--store SPEC`` and ``--data-path DIR``."""

    def decorate(function: F) -> F:
        function = click.option(
            "--data-path",
            type=click.Path(file_okay=False),
            help="Folder of the DuckLake's Parquet files (shared by every writer). Needed when the lake is created.",
        )(function)
        return click.option(
            "--store",
            "store_spec",
            required=required,
            metavar="ducklake:postgres:DSN",
            help="A DuckLake whose catalog is in PostgreSQL, e.g. "
            "'ducklake:postgres:dbname=llm_cost host=127.0.0.1 user=writer'.",
        )(function)

    return decorate


def open_lake(store_spec: str, data_path: str | None, *, read_only: bool = False) -> DuckLakeStore:
    """Open the DuckLake a command was given; every failure is a one-line ``ClickException``."""
    if not is_lake(store_spec):
        raise click.BadParameter("expected ducklake:postgres:<dsn>", param_hint="--store")
    try:
        check_spec(store_spec, data_path)
        store = open_store(store_spec, data_path=data_path, read_only=read_only)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from exc
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    assert isinstance(store, DuckLakeStore)
    return store


def open_lake_for_reading(store_spec: str, data_path: str | None) -> DuckLakeStore:
    """Open a DuckLake read-only for a report; refuse one whose schema is older than this version's."""
    store = open_lake(store_spec, data_path, read_only=True)
    pending = migrations.pending(store.con)
    if pending:
        store.close()
        raise click.ClickException(
            f"{store.path} is not at the newest schema ({len(pending)} migration(s) pending, from {pending[0].name});"
            " any writer of this version brings it up to date when it opens the lake"
        )
    return store


@click.group("ducklake")
def ducklake_group() -> None:
    """Maintain a DuckLake store (many writers).

    \b
    Example:
      otel-llm-cost ducklake maintain --store 'ducklake:postgres:dbname=llm_cost host=db1' --dry-run
    """


@ducklake_group.command("maintain")
@store_options(required=True)
@click.option(
    "--keep-days",
    type=click.IntRange(min=0),
    default=lake_maintenance.DEFAULT_KEEP.days,
    show_default=True,
    help="Keep snapshots (time travel) and unreferenced files this many days.",
)
@click.option("--dry-run", is_flag=True, help="Change nothing: list the snapshots and files that would be removed.")
@format_option("A table for people, JSON for scripts.")
def maintain_command(store_spec: str, data_path: str | None, keep_days: int, dry_run: bool, output_format: str) -> None:
    """Compact files and clean up old snapshots.

    Runs DuckLake's flush of inlined rows, merge of adjacent files and rewrite of files with
    deletes, then expires snapshots older than --keep-days and deletes the files nothing needs
    (old and orphaned). Safe while writers are committing. Run it daily, e.g. from cron.

    \b
    Examples:
      otel-llm-cost ducklake maintain --store 'ducklake:postgres:dbname=llm_cost host=db1'
      otel-llm-cost ducklake maintain --store 'ducklake:postgres:dbname=llm_cost' --keep-days 30 --dry-run
    """
    store = open_lake(store_spec, data_path)
    try:
        steps = lake_maintenance.maintain(store, keep=dt.timedelta(days=keep_days), dry_run=dry_run)
    except Exception as exc:  # a DuckLake or PostgreSQL error: one line, no traceback
        raise click.ClickException(f"maintenance of {store.path} failed: {str(exc).strip().splitlines()[0]}") from exc
    finally:
        store.close()
    if output_format == "json":
        click.echo(json.dumps({"dry_run": dry_run, "steps": [vars(s) for s in steps]}, indent=2))
        return
    table = Table(title=f"DuckLake maintenance{' (dry run)' if dry_run else ''}: {store.path}", title_justify="left")
    table.add_column("step")
    table.add_column("result")
    for step in steps:
        unit = step.unit.replace("deleted", "to delete").replace("expired", "to expire") if dry_run else step.unit
        result = f"{step.count:,} {unit}" if step.ran else "skipped in a dry run: DuckLake cannot preview it"
        table.add_row(step.name, result)
    console().print(table)
