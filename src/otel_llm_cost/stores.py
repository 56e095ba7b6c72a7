"""Open the store a spec names: a DuckDB file (one writing process) or a DuckLake (many).

``open_store`` is what the processor, ``otel-llm-cost serve`` and the CLI call with the user's
``--store`` (or ``db_path``) and ``--data-path``:

- ``llm-cost.duckdb``, any path: a :class:`~otel_llm_cost.store.DuckDBStore`;
- ``ducklake:postgres:<libpq dsn>``: a :class:`~otel_llm_cost.ducklake.DuckLakeStore`, its catalog
  in that PostgreSQL database and its Parquet files under ``data_path``.

Both satisfy :class:`CostStore`, the part of a store the exporter uses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Protocol

import duckdb

from otel_llm_cost.conventions import AgentRun, CallRecord
from otel_llm_cost.ducklake import PREFIX as DUCKLAKE_PREFIX
from otel_llm_cost.ducklake import DuckLakeStore, redacted
from otel_llm_cost.pricing import Cost, RatePlan
from otel_llm_cost.store import DuckDBStore


class CostStore(Protocol):
    """What :class:`~otel_llm_cost.exporter.CostExporter` needs of a store."""

    path: str  #: names the store in messages (a DSN without its password)
    con: duckdb.DuckDBPyConnection  #: the tables and views answer unqualified on it

    def write_batch(
        self,
        rows: Sequence[tuple[CallRecord, Cost]],
        plans: Sequence[RatePlan] = (),
        runs: Sequence[AgentRun] = (),
    ) -> int: ...

    def record_health(self, row: Mapping[str, object]) -> None: ...

    def close(self) -> None: ...


def is_lake(spec: str | os.PathLike[str]) -> bool:
    """Whether ``spec`` names a DuckLake rather than a DuckDB file."""
    return isinstance(spec, str) and spec.startswith("ducklake:")


def check_spec(spec: str | os.PathLike[str], data_path: str | os.PathLike[str] | None = None) -> None:
    """Validate a store spec without opening anything (configuration time).

    Raises:
        ValueError: a ``ducklake:`` spec with a catalog other than PostgreSQL, or a ``data_path``
            given for a DuckDB file (which keeps its data inside).
    """
    if is_lake(spec):
        assert isinstance(spec, str)
        if not spec.startswith(DUCKLAKE_PREFIX) or not spec[len(DUCKLAKE_PREFIX) :].strip():
            raise ValueError(
                f"unsupported store {redacted(spec)!r}: a DuckLake store is {DUCKLAKE_PREFIX}<dsn>, "
                "e.g. 'ducklake:postgres:dbname=llm_cost host=127.0.0.1'"
            )
    elif data_path is not None:
        raise ValueError("data_path is for a ducklake:postgres: store; a DuckDB file keeps its data inside")


def open_store(
    spec: str | os.PathLike[str],
    *,
    data_path: str | os.PathLike[str] | None = None,
    read_only: bool = False,
) -> DuckDBStore | DuckLakeStore:
    """Open (and migrate, unless ``read_only``) the store ``spec`` names.

    Args:
        spec: a DuckDB file path, or ``ducklake:postgres:<dsn>``.
        data_path: the DuckLake's Parquet folder (needed when the lake is created).
        read_only: open for reading only (reports); nothing is created or migrated.

    Raises:
        ValueError: the spec is malformed (see :func:`check_spec`).
        StoreUnavailable: the store cannot be opened; the message says why.
        MigrationError: its schema cannot be brought up to date.
    """
    check_spec(spec, data_path)
    if is_lake(spec):
        return DuckLakeStore(os.fspath(spec), data_path=data_path, read_only=read_only)
    return DuckDBStore(spec, read_only=read_only)
