"""The store ``serve`` and ``ingest`` write: ``--db FILE`` or ``--store ducklake:postgres:DSN``."""

from __future__ import annotations

import click

from otel_llm_cost import migrations
from otel_llm_cost._store_factory import open_store
from otel_llm_cost.ducklake import DuckLakeStore
from otel_llm_cost.store import DuckDBStore, StoreUnavailable
from otel_llm_cost.stores import check_spec, is_lake


def check_store_options(store_spec: str | None, data_path: str | None) -> None:
    """A malformed --store, or --data-path without it, is a usage error before anything opens."""
    if store_spec is None:
        if data_path is not None:
            raise click.BadParameter("--data-path goes with --store ducklake:postgres:<dsn>", param_hint="--data-path")
        return
    if not is_lake(store_spec):
        message = "expected ducklake:postgres:<dsn> (a DuckDB file is given with --db)"
        raise click.BadParameter(message, param_hint="--store")
    try:
        check_spec(store_spec, data_path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from exc


def open_writable(db_path: str, store_spec: str | None, data_path: str | None) -> DuckDBStore | DuckLakeStore:
    """Open the lake ``--store`` names, else the ``--db`` file; failures are one-line ``ClickException``s."""
    check_store_options(store_spec, data_path)
    try:
        return open_store(store_spec or db_path, data_path=data_path)
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
