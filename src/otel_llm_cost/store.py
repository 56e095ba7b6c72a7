"""DuckDB storage: the only module that writes SQL against the cost tables.

The store migrates itself when it opens. A batch of priced calls becomes one Arrow RecordBatch
and one ``INSERT OR IGNORE ... BY NAME`` statement, which is 50-100x faster than row-by-row
inserts and idempotent on ``(trace_id, span_id)``, so an OTLP retry or a replayed file stores each
span once.

DuckDB allows one writing process per file. Open the store in one process only (the one that runs
the processor, or ``otel-llm-cost serve``); other processes can read with ``read_only=True`` only
while no writer holds the file.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import stat
import weakref
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from otel_llm_cost.catalog import plans_to_arrow
from otel_llm_cost.conventions import AgentRun, CallRecord
from otel_llm_cost.migrations import MigrationError, migrate
from otel_llm_cost.pricing import Cost, RatePlan

logger = logging.getLogger(__name__)

# DECIMAL(38, 18): 20 digits of dollars, 18 of fractions. One token at $0.01 per million is
# $1e-8, so 18 places keep every real price exact; anything finer is rounded half-even.
MONEY = pa.decimal128(38, 18)
_QUANTUM = Decimal(1).scaleb(-18)
_MONEY_LIMIT = Decimal(10) ** 20
_MONEY_CONTEXT = Context(prec=38)
_TIMESTAMP = pa.timestamp("ns", tz="UTC")

_TEXT_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "span_name", "service_name", "environment", "provider",
    "operation", "request_model", "response_model", "response_id", "user_id", "conversation_id",
    "agent_name", "status_code", "error_type",
)  # fmt: skip
_TOKEN_COLUMNS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
_COST_TEXT_COLUMNS = ("priced_provider", "priced_model", "pricing_status", "pricing_detail", "price_id",
                      "price_version", "cost_source")  # fmt: skip
# CallRecord fields stored since migrations 0003 (details), 0005 (test_id), 0006 (attributes) and 0008.
_DETAIL_TEXT_COLUMNS = ("customer_id", "scope_name", "reported_cost_error", "test_id", "attributes", "service_tier")
_DETAIL_TOKEN_COLUMNS = ("cache_write_1h_tokens", "input_audio_tokens", "cache_audio_read_tokens",
                         "output_audio_tokens", "input_image_tokens", "cache_image_read_tokens",
                         "output_image_tokens")  # fmt: skip
_MONEY_COLUMNS = ("cost_usd", "computed_cost_usd", "input_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd",
                  "output_cost_usd", "other_cost_usd")  # fmt: skip


# Tables another file contributes in merge_from; each insert-or-ignores on its primary key.
_MERGED_TABLES = ("model_prices", "model_price_catalogs", "llm_agent_runs", "llm_calls", "llm_ingest_health")


class StoreUnavailable(RuntimeError):
    """The DuckDB file cannot be opened for writing (missing folder, read-only, locked...)."""


# Fork safety. A forked child inherits DuckDB's in-memory copy of every database the parent has
# open, but not the parent's lock on the file. Closing that copy in the child (or letting Python
# free it) checkpoints the parent's file and deletes its WAL under the running parent; connecting
# to the same path again in the child is handed that copy by DuckDB's instance cache and writes the
# file unlocked. So a child never closes an inherited store, and refuses to open those files.
_open_stores: weakref.WeakSet[DuckDBStore] = weakref.WeakSet()
_parent_files: dict[str, int] = {}  # resolved path -> pid of the parent that had it open at fork
_inherited: list[object] = []


def _after_fork_in_child() -> None:
    parent = os.getppid()
    for store in list(_open_stores):
        _parent_files[_resolved(store.path)] = parent
        _keep_forever(store)
    _open_stores.clear()
    for con in _parent_default_connection:
        _keep_forever(con)
    _parent_default_connection.clear()


def _keep_forever(obj: object) -> None:
    _inherited.append(obj)
    with contextlib.suppress(Exception):
        # One reference more than anyone will drop, so interpreter exit does not free it either.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


_parent_default_connection: list[duckdb.DuckDBPyConnection] = []


def _before_fork() -> None:
    # duckdb's module-level default connection (made at import) is a database with threads of its
    # own. A child that frees it at exit joins threads it does not have, and crashes or hangs
    # (plain duckdb 1.5: import, fork, use duckdb in the child, sys.exit). Held here, it is kept
    # unfreed in the child with the inherited stores.
    if not _parent_default_connection:
        with contextlib.suppress(Exception):
            _parent_default_connection.append(duckdb.default_connection())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _resolved(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def _money(value: Decimal | None) -> Decimal | None:
    """Round to 18 places, half-even. ``None`` for a value DECIMAL(38, 18) cannot hold.

    Quantizing under the default 28-digit context raises for $1e10 and up, and pyarrow rejects
    $1e20 and up; either would fail the whole batch over one absurd value (a span's own reported
    cost is whatever the emitter wrote). Such a value is logged and stored as NULL, which the views
    count as unpriced rather than summing.
    """
    if value is None:
        return None
    if value.is_finite() and abs(value) < _MONEY_LIMIT:
        return value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_MONEY_CONTEXT)
    logger.warning("cost %s does not fit DECIMAL(38, 18); storing NULL", value)
    return None


def _money_array(values: list[Decimal | None]) -> pa.Array:
    """A DECIMAL(38, 18) column. Nearly every cost already fits exactly, so try that first (one
    C call); pyarrow refuses anything that would lose digits, and only then is each value rounded."""
    try:
        return pa.array(values, MONEY)
    except (pa.ArrowInvalid, ArithmeticError):
        return pa.array([_money(v) for v in values], MONEY)


def calls_to_arrow(rows: Sequence[tuple[CallRecord, Cost]]) -> pa.RecordBatch:
    """Build the Arrow batch for ``llm_calls``; column names match the table's."""
    records = [r for r, _ in rows]
    costs = [c for _, c in rows]
    columns: dict[str, pa.Array] = {}
    for name in _TEXT_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in records], pa.string())
    columns["start_time"] = pa.array([r.start_time_ns for r in records], _TIMESTAMP)
    columns["end_time"] = pa.array([r.end_time_ns for r in records], _TIMESTAMP)
    for name in _TOKEN_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in records], pa.int64())
    columns["input_excluded_cache"] = pa.array([r.input_excluded_cache for r in records], pa.bool_())
    for name in _DETAIL_TEXT_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in records], pa.string())
    for name in _DETAIL_TOKEN_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in records], pa.int64())
    columns["is_duplicate"] = pa.array([r.duplicate_of is not None for r in records], pa.bool_())
    columns["duplicate_of_trace_id"] = pa.array([r.duplicate_of and r.duplicate_of[0] for r in records], pa.string())
    columns["duplicate_of_span_id"] = pa.array([r.duplicate_of and r.duplicate_of[1] for r in records], pa.string())
    columns["reported_cost_usd"] = _money_array([r.reported_cost_usd for r in records])
    for name in _COST_TEXT_COLUMNS:
        columns[name] = pa.array([getattr(c, name) for c in costs], pa.string())
    for name in _MONEY_COLUMNS:
        columns[name] = _money_array([getattr(c, name) for c in costs])
    return pa.RecordBatch.from_pydict(columns)


def runs_to_arrow(runs: Sequence[AgentRun]) -> pa.RecordBatch:
    """Build the Arrow batch for ``llm_agent_runs``."""
    columns: dict[str, pa.Array] = {}
    for name in ("trace_id", "span_id", "parent_span_id", "span_name", "service_name", "run_kind", "agent_name",
                 "conversation_id", "user_id", "status_code"):  # fmt: skip
        columns[name] = pa.array([getattr(r, name) for r in runs], pa.string())
    columns["start_time"] = pa.array([r.start_time_ns for r in runs], _TIMESTAMP)
    columns["end_time"] = pa.array([r.end_time_ns for r in runs], _TIMESTAMP)
    for name in ("reported_input_tokens", "reported_output_tokens"):
        columns[name] = pa.array([getattr(r, name) for r in runs], pa.int64())
    return pa.RecordBatch.from_pydict(columns)


class DuckDBStore:
    """A DuckDB file holding ``llm_calls``, ``model_prices`` and the analytic views.

    Args:
        path: the database file, or ``":memory:"``. Its folder must exist.
        read_only: open for reading only; no migration is run.

    Raises:
        StoreUnavailable: the file cannot be opened (folder missing, permissions, locked by
            another process, not a DuckDB file); the message says which.
        MigrationError: the file's schema cannot be brought up to date (written by a newer
            version, or a table of ours exists with another shape); the message names the file.
    """

    def __init__(self, path: str | os.PathLike[str] = "llm-cost.duckdb", *, read_only: bool = False) -> None:
        self.path = str(path)
        self._pid = os.getpid()
        new_file = not read_only and not _is_memory(self.path) and not Path(self.path).expanduser().exists()
        self.con = _connect(self.path, read_only=read_only)
        # The mode the WAL is given after each commit: the file's own. None: leave files alone.
        self._file_mode: int | None = None
        if not read_only and not _is_memory(self.path):
            self._file_mode = _owner_only(self.path) if new_file else _mode_of(self.path)
        try:
            # UTC for every session, readers included, so date_trunc and ::DATE on TIMESTAMPTZ mean
            # UTC days and Python gets UTC datetimes whatever the host's time zone.
            self.con.execute("SET TimeZone = 'UTC'")
            if not read_only:
                migrate(self.con)
                # Schema changes go to the file now, not to the WAL: DuckDB 1.5 cannot replay some
                # DDL from a WAL (duckdb/duckdb#19712, #22044), so a process killed before its next
                # checkpoint would leave a file nobody can open. Rows in a WAL replay fine.
                with contextlib.suppress(duckdb.Error):  # another connection of this process is writing
                    self.con.execute("CHECKPOINT")
        except MigrationError as exc:
            # A file from a newer version, or another tool's table named llm_calls: nothing was
            # changed (each step rolls back); say which file, since the caller may only log this.
            self.con.close()
            raise MigrationError(f"cannot use DuckDB file {self.path!r}: {exc}") from exc
        except BaseException:
            self.con.close()
            raise
        if not _is_memory(self.path):
            _open_stores.add(self)

    def write_batch(
        self,
        rows: Sequence[tuple[CallRecord, Cost]],
        plans: Sequence[RatePlan] = (),
        runs: Sequence[AgentRun] = (),
    ) -> int:
        """Insert priced calls, the rate plans they used and agent runs, in one transaction.

        Returns the number of new ``llm_calls`` rows; spans already stored are skipped, not duplicated.
        """
        if not rows and not plans and not runs:
            return 0
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            # The Arrow batches are registered as views and read by name: values never enter the
            # SQL text, so a model name holding SQL is stored verbatim. INSERT OR IGNORE stores one
            # row per (trace_id, span_id), also when a batch repeats a span (which copy is not defined).
            if plans:
                _insert(con, "model_prices", plans_to_arrow(plans))
            if runs:
                _insert(con, "llm_agent_runs", runs_to_arrow(runs))
            inserted = _insert(con, "llm_calls", calls_to_arrow(rows)) if rows else 0
            con.execute("COMMIT")
        except BaseException:
            # The transaction may already be gone with a failed connection.
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        self._restrict_wal()
        return inserted

    def _restrict_wal(self) -> None:
        """Give the write-ahead log the database file's permissions.

        DuckDB deletes the WAL at each checkpoint and creates a new one with the process umask
        (0644 usually), though it holds the same rows as the file. Between its creation and this
        chmod it is readable as the umask allows; a 0700 folder or ``umask 077`` closes that gap.
        """
        if self._file_mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(f"{Path(self.path).expanduser()}.wal", self._file_mode)

    def record_health(self, row: Mapping[str, object]) -> None:
        """Upsert one process's counters into ``llm_ingest_health`` (see migration 0007)."""
        columns = list(row)
        placeholders = ", ".join("?" for _ in columns)
        # Column names are ours (the health row's keys); the values go in as parameters.
        self.con.execute(
            f"INSERT OR REPLACE INTO llm_ingest_health ({', '.join(columns)}) VALUES ({placeholders})",
            [row[c] for c in columns],
        )
        self._restrict_wal()

    def merge_from(self, path: str | os.PathLike[str]) -> None:
        """Copy another cost database (same schema version) into this one, in one transaction.

        Rows already here are kept, so merging twice is harmless. DuckDB allows one writing process
        per file, so parallel writers (pytest-xdist workers, pre-fork servers) each write their own
        file and one process merges them once they have closed.
        """
        # ATTACH takes no parameters: the path is quoted as an SQL string literal instead.
        literal = "'" + os.fspath(path).replace("'", "''") + "'"
        self.con.execute(f"ATTACH {literal} AS _merge_source (READ_ONLY)")
        try:
            self.con.execute("BEGIN TRANSACTION")
            try:
                for table in _MERGED_TABLES:
                    self.con.execute(f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM _merge_source.{table}")
                self.con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    self.con.execute("ROLLBACK")
                raise
        finally:
            self.con.execute("DETACH _merge_source")
        self._restrict_wal()

    def close(self) -> None:
        """Close the connection, releasing the file's lock. Safe to call twice.

        In a forked child, a store the parent opened is left open (see ``_after_fork_in_child``)."""
        if self._pid != os.getpid():
            return
        _open_stores.discard(self)
        self.con.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _insert(con: duckdb.DuckDBPyConnection, table: str, batch: pa.RecordBatch) -> int:
    """Insert-or-ignore an Arrow batch into ``table`` by column name; return the rows added."""
    con.register("_incoming", batch)
    try:
        row = con.execute(f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM _incoming").fetchone()
    finally:
        con.unregister("_incoming")
    return int(row[0]) if row else 0


def _is_memory(path: str) -> bool:
    # DuckDB treats "" and ":memory:" (optionally ":memory:NAME") as in-memory databases.
    return path == "" or path.startswith(":memory:")


def _owner_only(path: str) -> int | None:
    """Make a database file this process just created readable by its owner only (0600): it
    holds who called which model at what cost. Created before any row is written to it."""
    try:
        os.chmod(Path(path).expanduser(), 0o600)
    except OSError:
        logger.warning("could not restrict %r to its owner (0600)", path)
        return None
    return 0o600


def _mode_of(path: str) -> int | None:
    """An existing file's permissions, kept as its owner set them (and given to the WAL too)."""
    try:
        return stat.S_IMODE(os.stat(Path(path).expanduser()).st_mode)
    except OSError:
        return None


def _connect(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    folder: Path | None = None
    if not _is_memory(path):
        # DuckDB expands "~" itself; expand it here too so the message names the real folder.
        folder = Path(path).expanduser().resolve().parent
        if not folder.exists():
            raise StoreUnavailable(f"cannot open DuckDB file {path!r}: folder {str(folder)!r} does not exist")
        if not folder.is_dir():
            raise StoreUnavailable(f"cannot open DuckDB file {path!r}: {str(folder)!r} is a file, not a folder")
        if read_only and not Path(path).expanduser().exists():
            raise StoreUnavailable(f"cannot open DuckDB file {path!r} for reading: no such file")
        parent = _parent_files.get(_resolved(path))
        if parent is not None:
            raise StoreUnavailable(
                f"cannot open DuckDB file {path!r} in this forked process: its parent (pid {parent}) had it open"
                " when it forked, and DuckDB allows one writing process per file (give each process its own file,"
                " e.g. a db_path with {pid}; see README)"
            )
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.Error as exc:
        raise StoreUnavailable(
            f"cannot open DuckDB file {path!r}: {_reason(exc, folder, read_only=read_only)}"
        ) from exc


def _reason(exc: duckdb.Error, folder: Path | None, *, read_only: bool) -> str:
    """Say in words why DuckDB would not open the file."""
    text = str(exc)
    lowered = text.lower()
    # Match DuckDB's own phrase, not bare "lock", which also appears in "block" (a corrupt file).
    if "could not set lock" in lowered or "conflicting lock" in lowered:
        # DuckDB names the holder: 'Conflicting lock is held in /usr/bin/python3 (PID 1234). See also ...'
        start = lowered.find("conflicting lock")
        holder = text[start:].split(". See also", 1)[0].strip() if start >= 0 else ""
        reason = "it is locked by another process (DuckDB allows one writing process per file; see README)"
        return f"{reason}: {holder}" if holder else reason
    if "permission" in lowered or "read-only" in lowered:
        where = f"the file and its folder {str(folder)!r}" if folder else "the file"
        return f"permission denied (check that this user can {'read' if read_only else 'write'} {where})"
    return text.splitlines()[0] if text else type(exc).__name__
