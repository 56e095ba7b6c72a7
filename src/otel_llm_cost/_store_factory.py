"""The one place ``serve`` and ``ingest`` open the store they write.

Today that is a DuckDB file. Another backend (a store for many writers) plugs in here, and both
commands use it without further change.
"""

from __future__ import annotations

from otel_llm_cost.store import DuckDBStore


def open_store(db_path: str) -> DuckDBStore:
    """Open (and migrate) the writable store named by ``db_path``.

    Raises:
        StoreUnavailable: it cannot be opened for writing (locked, missing folder, ...).
        MigrationError: its schema cannot be brought up to date.
    """
    return DuckDBStore(db_path)
