"""DuckLakeStore: the cost tables in DuckLake, its catalog in PostgreSQL and its data in Parquet files.

A DuckDB file allows one writing process. DuckLake keeps the catalog (tables, snapshots, which
Parquet file holds which rows) in PostgreSQL, so any number of processes on any number of hosts
can commit to one lake, each through its own in-memory DuckDB with the lake attached::

    store = DuckLakeStore("ducklake:postgres:dbname=llm_cost host=10.0.0.5 user=writer",
                          data_path="/mnt/shared/llm-cost")

It offers what :class:`~otel_llm_cost.exporter.CostExporter` uses of a :class:`DuckDBStore`
(``write_batch``, ``record_health``, ``close``) and ``con``, a connection on which the usual tables
and views answer unqualified, as in a DuckDB file.

Idempotent writes without a primary key (DuckLake has none). Each write is one transaction that
moves the *write fence* (one row, see ``_lake_schema``) and inserts only the rows whose key is not
in the table yet (an anti-join on ``(trace_id, span_id)`` among the rows of the batch's start times,
see ``_insert_new``; ``price_id`` for prices). Two writers'
fence updates conflict, so DuckLake aborts the later commit, and it runs again from the start
against the newer snapshot, where the other's rows are visible. Writes of cost rows therefore
commit one after another, and a span is stored once however many writers, retries or replays
send it. A commit lost to a conflict is retried with backoff for ``commit_timeout_s`` (60 s);
DuckLake's own retry of non-conflicting commits is raised to 30 attempts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from otel_llm_cost._lake_extensions import OFFLINE_CONFIG, load_extensions
from otel_llm_cost._lake_retry import in_transaction, retry_conflicts
from otel_llm_cost._lake_schema import FENCE_SQL, create_temp_macros, migrate_lake
from otel_llm_cost.catalog import plans_to_arrow
from otel_llm_cost.conventions import AgentRun, CallRecord
from otel_llm_cost.migrations import MigrationError
from otel_llm_cost.pricing import Cost, RatePlan
from otel_llm_cost.store import StoreUnavailable, calls_to_arrow, runs_to_arrow

logger = logging.getLogger(__name__)

PREFIX: Final = "ducklake:postgres:"
LAKE: Final = "lake"  # the name the lake is attached under, in every store's DuckDB
DEFAULT_COMMIT_TIMEOUT_S: Final = 60.0
HEALTH_TIMEOUT_S: Final = 10.0  # health rows are best effort: give up sooner than on cost rows
# DuckLake's own retry of a commit whose snapshot id another writer took first (no logical conflict).
_DUCKLAKE_RETRY = {"ducklake_max_retry_count": 30, "ducklake_retry_wait_ms": 20, "ducklake_retry_backoff": 1.2}
_SPAN_KEY = ("trace_id", "span_id")
# The tables a write fills, in dependency order (prices before the calls priced with them), and
# the key that makes a row the same row (DuckLake has no primary keys: see _insert_new).
_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "model_prices": ("price_id",),
    "llm_agent_runs": _SPAN_KEY,
    "llm_calls": _SPAN_KEY,
}
_PG = "_otel_llm_cost_catalog"
LOCK_KEY: Final = 0x6F746C6C6D636F  # pg_advisory_xact_lock key of our writers: "otllmco"
LOCK_WAIT_S: Final = 2.0

# As in store.py: a forked child must never close a DuckDB instance it inherited. Here closing
# would also end the parent's PostgreSQL sessions, whose sockets the child shares.
_open_lakes: weakref.WeakSet[DuckLakeStore] = weakref.WeakSet()
_inherited: list[DuckLakeStore] = []


def _after_fork_in_child() -> None:
    _inherited.extend(_open_lakes)
    _open_lakes.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class DuckLakeStore:
    """Cost tables and views in a DuckLake with a PostgreSQL catalog.

    Args:
        spec: ``ducklake:postgres:`` followed by a libpq connection string
            (``dbname=llm_cost host=127.0.0.1 port=5432 user=writer``; a password is better kept
            in ``~/.pgpass`` or ``PGPASSWORD`` than here). The database must exist.
        data_path: the folder for the Parquet files, shared by every writer (a network file
            system for many hosts). Needed when the lake is created; afterwards the catalog
            remembers it. Created if missing.
        read_only: attach read-only, for reports; nothing is migrated or written.
        commit_timeout_s: how long a write keeps retrying commit conflicts before it fails.

    Raises:
        StoreUnavailable: the extensions cannot be loaded, PostgreSQL cannot be reached, or the
            lake cannot be attached; the message says which (without the DSN's password).
        MigrationError: a newer otel-llm-cost wrote the lake, or a migration failed.
    """

    def __init__(
        self,
        spec: str,
        *,
        data_path: str | os.PathLike[str] | None = None,
        read_only: bool = False,
        commit_timeout_s: float = DEFAULT_COMMIT_TIMEOUT_S,
    ) -> None:
        if not spec.startswith(PREFIX):
            raise ValueError(f"not a DuckLake store: {redacted(spec)!r} (expected {PREFIX}<dsn>)")
        self.path = redacted(spec)  # named in logs and messages: never the password
        self.data_path = None if data_path is None else os.fspath(data_path)
        self.commit_timeout_s = commit_timeout_s
        self._pid = os.getpid()
        self._lock_con: duckdb.DuckDBPyConnection | None = None
        self.con = duckdb.connect(":memory:", config=dict(OFFLINE_CONFIG))
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            load_extensions(self.con)
            for name, value in _DUCKLAKE_RETRY.items():
                self.con.execute(f"SET {name} = {value}")
            self._attach(spec, read_only=read_only)
            if not read_only:
                migrate_lake(self.con, deadline_s=commit_timeout_s)
            create_temp_macros(self.con)  # the views' macros: the lake's catalog cannot hold them
        except MigrationError as exc:
            self.con.close()
            raise MigrationError(f"cannot use DuckLake {self.path!r}: {exc}") from exc
        except duckdb.Error as exc:
            self.con.close()
            raise StoreUnavailable(f"cannot open DuckLake {self.path!r}: {_first_line(exc, spec)}") from exc
        except BaseException:
            self.con.close()
            raise
        _open_lakes.add(self)

    def _attach(self, spec: str, *, read_only: bool) -> None:
        options = []
        if self.data_path is not None:
            if not read_only:
                Path(self.data_path).expanduser().mkdir(parents=True, exist_ok=True)
            options.append(f"DATA_PATH '{_text(str(Path(self.data_path).expanduser()))}'")
        if read_only:
            options.append("READ_ONLY")
        suffix = f" ({', '.join(options)})" if options else ""
        self.con.execute(f"ATTACH '{_text(spec)}' AS {LAKE}{suffix}")
        self.con.execute(f"USE {LAKE}")
        if not read_only:
            # The catalog's database once more, for the writers' advisory lock (see _wait_for_turn).
            self.con.execute(f"ATTACH '{_text(spec[len(PREFIX) :])}' AS {_PG} (TYPE postgres, READ_ONLY)")
            self._lock_con = self.con.cursor()

    def write_batch(
        self,
        rows: Sequence[tuple[CallRecord, Cost]],
        plans: Sequence[RatePlan] = (),
        runs: Sequence[AgentRun] = (),
    ) -> int:
        """Insert priced calls, the rate plans they used and agent runs, in one transaction.

        Returns the number of new ``llm_calls`` rows; spans already stored are skipped.

        Raises:
            CommitConflict: other writers kept winning for ``commit_timeout_s``; nothing was written.
        """
        if not rows and not plans and not runs:
            return 0
        tables = {
            "model_prices": plans_to_arrow(plans) if plans else None,
            "llm_agent_runs": runs_to_arrow(runs) if runs else None,
            "llm_calls": calls_to_arrow(rows) if rows else None,
        }
        return self.write_tables({name: batch for name, batch in tables.items() if batch is not None})

    def write_tables(self, tables: Mapping[str, pa.RecordBatch | pa.Table]) -> int:
        """Insert Arrow rows named by table (``model_prices``, ``llm_agent_runs``, ``llm_calls``,
        with the tables' column names) in one fenced transaction, skipping rows already stored.

        What :meth:`write_batch` does with priced records, for rows that are already Arrow (a
        spool batch). Returns the number of new ``llm_calls`` rows.

        Raises:
            CommitConflict: other writers kept winning for ``commit_timeout_s``; nothing was written.
            ValueError: a table other than those three.
        """
        unknown = set(tables) - set(_KEYS)
        if unknown:
            raise ValueError(f"not a cost table: {', '.join(sorted(unknown))}")

        def write() -> int:
            self.con.execute(FENCE_SQL)
            inserted = 0
            for table, key in _KEYS.items():  # prices before the calls priced with them
                if table in tables:
                    inserted = _insert_new(self.con, table, tables[table], key)
            return inserted if "llm_calls" in tables else 0

        def attempt() -> int:
            with self._turn():
                return in_transaction(self.con, write)

        calls = tables["llm_calls"].num_rows if "llm_calls" in tables else 0
        return retry_conflicts(attempt, what=f"writing {calls} calls to {self.path}", deadline_s=self.commit_timeout_s)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A new connection (a cursor) for one reader thread, on which the tables, views and
        macros answer unqualified as on ``con``. ``USE`` and TEMP macros belong to a connection,
        so a plain ``con.cursor()`` would see neither. Close it when done."""
        cursor = self.con.cursor()
        try:
            cursor.execute(f"USE {LAKE}")
            create_temp_macros(cursor)
        except BaseException:
            cursor.close()
            raise
        return cursor

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Hold the writers' advisory lock in PostgreSQL, if it comes within LOCK_WAIT_S.

        Only an optimisation: the fence alone keeps writes exactly-once, but a writer that loses
        at commit has written its batch for nothing; with the lock, writers take turns instead.
        It is a transaction lock on a second connection (a cursor), so the write's own transaction
        starts, and reads the lake's snapshot, only once the lock is held; it is released after
        the write commits, or when the process dies. A holder that hangs costs the others
        LOCK_WAIT_S per batch: they then go ahead, and the fence decides.
        """
        lock = self._lock_con
        if lock is None:
            yield
            return
        lock.execute("BEGIN TRANSACTION")
        try:
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                row = lock.execute(
                    f"SELECT * FROM postgres_query('{_PG}', 'SELECT pg_try_advisory_xact_lock({LOCK_KEY})')"
                ).fetchone()
                if (row and row[0]) or time.monotonic() >= deadline:
                    break
                time.sleep(0.005)
            yield
        finally:
            with contextlib.suppress(duckdb.Error):
                lock.execute("ROLLBACK")  # ends the PostgreSQL transaction: the lock is released

    def record_health(self, row: Mapping[str, object]) -> None:
        """Replace this process's row of ``llm_ingest_health`` (delete, then insert: no upsert key)."""
        columns = list(row)
        placeholders = ", ".join("?" for _ in columns)

        def upsert() -> None:
            self.con.execute("DELETE FROM llm_ingest_health WHERE process_key = ?", [row["process_key"]])
            # Column names are ours (the health row's keys); the values go in as parameters.
            self.con.execute(
                f"INSERT INTO llm_ingest_health ({', '.join(columns)}) VALUES ({placeholders})",
                [row[c] for c in columns],
            )

        retry_conflicts(
            lambda: in_transaction(self.con, upsert), what="recording ingest health", deadline_s=HEALTH_TIMEOUT_S
        )

    def close(self) -> None:
        """Close the connection (and its PostgreSQL sessions). Safe to call twice; a forked child
        leaves a store its parent opened alone."""
        if self._pid != os.getpid():
            return
        _open_lakes.discard(self)
        if self._lock_con is not None:
            self._lock_con.close()
        self.con.close()

    def __enter__(self) -> DuckLakeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _insert_new(
    con: duckdb.DuckDBPyConnection, table: str, batch: pa.RecordBatch | pa.Table, key: tuple[str, ...]
) -> int:
    """Insert the rows of ``batch`` whose ``key`` is not in ``table`` yet (one per key); return how many.

    For spans, the anti-join looks only at stored rows whose ``start_time`` lies within the
    batch's: a span sent again (an OTLP retry, a replayed spool) has the start time it had, and
    DuckLake then reads only the files whose start times overlap the batch's (recent ones, as
    spans arrive roughly in time order), not the whole table. A different span reusing a stored
    span's ids at another start time (an emitter bug) would be stored beside it.
    """
    match = " AND ".join(f"t.{k} = i.{k}" for k in key)
    params: list[object] = []
    if "start_time" in batch.schema.names and batch.num_rows:
        # To microseconds, as DuckDB stores TIMESTAMPTZ: truncating keeps every stored value in range.
        bounds = pc.min_max(batch.column("start_time").cast(pa.timestamp("us", tz="UTC"), safe=False))
        if bounds["min"].is_valid:
            match = f"t.start_time BETWEEN ? AND ? AND {match}"
            params = [bounds["min"].as_py(), bounds["max"].as_py()]
    con.register("_incoming", batch)
    try:
        row = con.execute(
            f"INSERT INTO {table} BY NAME SELECT i.* FROM (SELECT DISTINCT ON ({', '.join(key)}) * FROM _incoming) i"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})",
            params,
        ).fetchone()
    finally:
        con.unregister("_incoming")
    return int(row[0]) if row else 0


_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]*@")


def redacted(spec: str) -> str:
    """``spec`` with any password in it replaced by ``***``, for logs and error messages."""
    return _URI_PASSWORD.sub(r"\1***@", _PASSWORD.sub(r"\1***", spec))


def _first_line(exc: BaseException, spec: str) -> str:
    """The useful line of a DuckDB error, without the DSN's password. A failed connection's message
    repeats the DSN twice before libpq's reason; keep the reason."""
    text = redacted(str(exc).replace(spec, redacted(spec))).strip()
    start = text.find("connection to server")
    if start >= 0:
        return "PostgreSQL " + text[start:].splitlines()[0].replace("FATAL:  ", "")
    return text.splitlines()[0] if text else type(exc).__name__


def _text(value: str) -> str:
    """``value`` for use inside a single-quoted SQL string literal (ATTACH takes no parameters)."""
    return value.replace("'", "''")
