"""The one place ``serve`` and ``ingest`` open the store they write, and read it.

A DuckDB file (one writing process) or, with ``--store ducklake:postgres:<dsn>``, a DuckLake that
many ``serve`` and ``ingest`` processes on many hosts may write at once (see :mod:`.stores`).
"""

from __future__ import annotations

import os

import duckdb

from otel_llm_cost.ducklake import DuckLakeStore
from otel_llm_cost.store import DuckDBStore
from otel_llm_cost.stores import open_store as open_spec


def open_store(
    spec: str | os.PathLike[str], *, data_path: str | os.PathLike[str] | None = None
) -> DuckDBStore | DuckLakeStore:
    """Open (and migrate) the writable store named by ``spec``: a DuckDB file path or
    ``ducklake:postgres:<dsn>`` (its Parquet files under ``data_path``).

    Raises:
        ValueError: the spec is malformed, or ``data_path`` was given for a DuckDB file.
        StoreUnavailable: it cannot be opened for writing (locked, missing folder, PostgreSQL down...).
        MigrationError: its schema cannot be brought up to date.
    """
    return open_spec(spec, data_path=data_path)


def read_connection(store: DuckDBStore | DuckLakeStore) -> duckdb.DuckDBPyConnection:
    """A connection of its own for one reader thread, on which the tables, views and macros
    answer unqualified; the caller closes it. DuckDB runs it beside the writer (MVCC)."""
    return store.reader() if isinstance(store, DuckLakeStore) else store.con.cursor()
