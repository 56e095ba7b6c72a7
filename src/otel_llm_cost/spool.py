"""The spool: priced batches on disk while the database cannot be written, loaded once later.

DuckDB allows one writing process per file. In a pre-fork server (gunicorn, uvicorn workers,
Celery prefork) only one process can hold the file; with ``spool_dir`` the others write each batch
here instead of dropping it, and ``otel-llm-cost ingest DIR`` (or ``otel-llm-cost serve``, which
ingests at start and then periodically) loads them.

A batch is what :meth:`DuckDBStore.write_batch` would have written, already priced: one folder
holding up to three Parquet files (``llm_calls``, ``llm_agent_runs``, ``model_prices``), with the
tables' own column names and types (the Arrow batches of :mod:`otel_llm_cost.store`).

Crash safety, in the order things happen:

1. The writer fills ``.NAME.tmp/``, fsyncs each file, renames the folder to ``NAME.batch`` (atomic)
   and fsyncs the spool folder. Only then does it count the spans as spooled. A ``.tmp`` folder is
   never loaded: a writer that died mid-batch leaves one, and ``ingest`` removes it once that
   process is gone (its spans were never counted as saved).
2. ``ingest`` inserts a group of batches in one transaction, commits, and only then deletes their
   folders. A crash between the two loads them again at the next run, and the insert ignores rows
   whose ``(trace_id, span_id)`` (or price id) is already stored: each span is stored exactly once.
   Into a DuckLake (no primary keys) the group goes through the lake's own idempotent write
   instead: an anti-join on the same keys inside a fenced, retried transaction.
3. A batch that cannot be read (a damaged disk) is renamed ``NAME.failed`` and reported, never
   half-loaded: its transaction rolls back.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from otel_llm_cost.catalog import plans_to_arrow
from otel_llm_cost.conventions import AgentRun, CallRecord
from otel_llm_cost.ducklake import DuckLakeStore
from otel_llm_cost.pricing import Cost, RatePlan
from otel_llm_cost.store import calls_to_arrow, runs_to_arrow

logger = logging.getLogger(__name__)

BATCH_SUFFIX = ".batch"
PARTIAL_SUFFIX = ".tmp"
FAILED_SUFFIX = ".failed"
# Tables in dependency order: prices before the calls priced with them.
TABLES = ("model_prices", "llm_agent_runs", "llm_calls")
_GROUP = 64  # batches per ingest transaction: few commits, and a failure isolates a small group

_sequence = itertools.count()


class SpoolWriter:
    """Writes priced batches into ``directory`` (created, owner-only, on first use).

    Safe to share across threads and after ``fork``: each batch gets a name of its own (host, pid,
    time, a counter), so processes sharing the folder never write the same file.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()

    def write(
        self, rows: Sequence[tuple[CallRecord, Cost]], plans: Sequence[RatePlan] = (), runs: Sequence[AgentRun] = ()
    ) -> Path:
        """Write one batch durably; return its folder. Raises ``OSError`` if it could not be written
        (then nothing is left but, at worst, a ``.tmp`` folder that ingest never loads)."""
        tables = {
            "model_prices": plans_to_arrow(plans) if plans else None,
            "llm_agent_runs": runs_to_arrow(runs) if runs else None,
            "llm_calls": calls_to_arrow(rows) if rows else None,
        }
        return self.write_tables({name: batch for name, batch in tables.items() if batch is not None})

    def write_tables(self, tables: dict[str, pa.RecordBatch]) -> Path:
        """Write Arrow batches named by table as one spool batch (the folder is returned)."""
        # The spool holds who called which model at what cost, as the database does: owner only.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}-{next(_sequence)}"
        partial = self.directory / f".{name}{PARTIAL_SUFFIX}"
        final = self.directory / f"{name}{BATCH_SUFFIX}"
        partial.mkdir(mode=0o700)
        for table, batch in tables.items():
            path = partial / f"{table}.parquet"
            pq.write_table(pa.Table.from_batches([batch]), path)
            _fsync(path)
        _fsync(partial)
        os.rename(partial, final)
        _fsync(self.directory)
        return final


@dataclass
class IngestResult:
    """What one ``ingest_spool`` run did."""

    batches: int = 0  #: batches loaded and removed
    calls_inserted: int = 0  #: new llm_calls rows
    calls_already_stored: int = 0  #: spooled calls that were stored before (a replay after a crash)
    failed: list[str] = field(default_factory=list)  #: batches that could not be read, renamed .failed
    partial_removed: list[str] = field(default_factory=list)  #: .tmp folders of writers that died
    partial_in_progress: int = 0  #: .tmp folders of live writers (or other hosts), left alone

    def as_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "calls_inserted": self.calls_inserted,
            "calls_already_stored": self.calls_already_stored,
            "failed": self.failed,
            "partial_removed": self.partial_removed,
            "partial_in_progress": self.partial_in_progress,
        }


def pending_batches(directory: str | os.PathLike[str]) -> list[Path]:
    """Complete batches waiting in ``directory``, oldest name first."""
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(BATCH_SUFFIX) and p.is_dir())


def ingest_spool(
    target: duckdb.DuckDBPyConnection | DuckLakeStore,
    directory: str | os.PathLike[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Load every complete batch in ``directory`` into the store behind ``target``, exactly once.

    Args:
        target: a writable connection to a migrated cost database (``DuckDBStore.con``), or a
            writable :class:`~otel_llm_cost.ducklake.DuckLakeStore`.
        directory: the spool folder; a missing folder is an empty spool.
        progress: called as ``progress(done, total)`` batches after each transaction.

    Raises:
        duckdb.Error, CommitConflict: a DuckLake could not be written (PostgreSQL down, other
            writers winning too long); the batches not yet committed stay in the spool.
    """
    result = IngestResult()
    _clean_partials(Path(directory).expanduser(), result)
    batches = pending_batches(directory)
    done = 0
    for start in range(0, len(batches), _GROUP):
        group = batches[start : start + _GROUP]
        if isinstance(target, DuckLakeStore):
            _load_into_lake(target, group, result)
        else:
            _load_isolating_failures(target, group, result)
        done += len(group)
        if progress is not None:
            progress(done, len(batches))
    return result


def _load_isolating_failures(con: duckdb.DuckDBPyConnection, group: list[Path], result: IngestResult) -> None:
    try:
        _load(con, group, result)
    except duckdb.Error:
        # One unreadable batch must not hold back the others: load the group one by one.
        for batch in group:
            try:
                _load(con, [batch], result)
            except duckdb.Error as exc:
                _set_aside(batch, exc, result)


def _set_aside(batch: Path, exc: BaseException, result: IngestResult) -> None:
    """Rename a batch that cannot be read ``NAME.failed`` (kept for a person to look at)."""
    logger.error("spooled batch %s cannot be loaded (%s); renamed %s", batch, exc, FAILED_SUFFIX)
    with contextlib.suppress(OSError):
        batch.rename(batch.with_name(batch.name[: -len(BATCH_SUFFIX)] + FAILED_SUFFIX))
    result.failed.append(batch.name)


def _load_into_lake(store: DuckLakeStore, group: list[Path], result: IngestResult) -> None:
    """Insert a group of batches into a DuckLake in one fenced transaction, then delete them.

    DuckLake has no primary keys, so ``INSERT OR IGNORE`` cannot skip what is stored: the rows
    go through the store's own idempotent write (anti-join on the key, write fence, commit
    retry). The files are read first, so only an unreadable batch is set aside; a failure to
    write (PostgreSQL down) propagates and leaves every batch of the group in the spool.
    """
    readable: list[Path] = []
    parts: dict[str, list[pa.Table]] = {}
    for batch in group:
        try:
            tables = {t: pq.read_table(batch / f"{t}.parquet") for t in TABLES if (batch / f"{t}.parquet").exists()}
        except (OSError, pa.ArrowException) as exc:
            _set_aside(batch, exc, result)
            continue
        readable.append(batch)
        for table, rows in tables.items():
            parts.setdefault(table, []).append(rows)
    if not readable:
        return
    # Batches spooled by different versions may lack newer columns: those become NULL, as
    # read_parquet(union_by_name) makes them on the DuckDB path.
    merged = {table: pa.concat_tables(rows, promote_options="permissive") for table, rows in parts.items()}
    inserted = store.write_tables(merged)
    _remove(readable)
    result.batches += len(readable)
    result.calls_inserted += inserted
    result.calls_already_stored += (merged["llm_calls"].num_rows if "llm_calls" in merged else 0) - inserted


def _load(con: duckdb.DuckDBPyConnection, group: list[Path], result: IngestResult) -> None:
    """Insert a group of batches in one transaction; delete their folders after the commit."""
    con.execute("BEGIN TRANSACTION")
    try:
        inserted = spooled = 0
        for table in TABLES:
            files = [str(p / f"{table}.parquet") for p in group if (p / f"{table}.parquet").exists()]
            if not files:
                continue
            # The file list is a parameter: paths never enter the SQL text. INSERT OR IGNORE keeps
            # what is stored already (a group replayed after a crash between commit and delete).
            row = con.execute(
                f"INSERT OR IGNORE INTO {table} BY NAME SELECT * FROM read_parquet(?, union_by_name = true)",
                [files],
            ).fetchone()
            if table == "llm_calls":
                inserted = int(row[0]) if row else 0
                count = con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()
                spooled = int(count[0]) if count else 0
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    _remove(group)
    result.batches += len(group)
    result.calls_inserted += inserted
    result.calls_already_stored += spooled - inserted


def _remove(batches: list[Path]) -> None:
    """Delete committed batches (a crash before this loads them again: nothing is stored twice)."""
    for batch in batches:
        shutil.rmtree(batch, ignore_errors=True)
    with contextlib.suppress(OSError):
        _fsync(batches[0].parent)


def _clean_partials(folder: Path, result: IngestResult) -> None:
    """Remove the ``.tmp`` folders of writers on this host that are gone; count the others."""
    if not folder.is_dir():
        return
    host = socket.gethostname()
    for path in folder.iterdir():
        if not (path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX)):
            continue
        writer_host, _, rest = path.name[1:].rpartition("-")[0].rpartition("-")[0].rpartition("-")
        pid = int(rest) if rest.isdigit() else None
        if writer_host == host and pid is not None and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            result.partial_removed.append(path.name)
            logger.warning("removed %s: a batch its writer (pid %d) did not finish before it died", path, pid)
        else:
            result.partial_in_progress += 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
