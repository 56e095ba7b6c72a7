"""Retention: archive old rows to Parquet, verify the archive, then delete them in one transaction.

What is removed, and why:

- ``llm_calls`` rows that started before the cutoff: the data that grows.
- ``llm_agent_runs`` rows that started before the cutoff, by the same rule, so a run is kept exactly
  as long as the calls that begin with it (view ``llm_cost_by_agent_run`` joins the two by time).
- ``query_log`` rows logged before the cutoff: operational timings, deleted and not archived.

What stays: ``model_prices`` (a few rows per model; every remaining and re-priced call may need
them), ``llm_ingest_health`` (one row per writing process: the record of spans that were lost, which
must not disappear with the calls) and ``retention_runs`` (the record of every prune).

The archive is hive-partitioned by UTC day (``ARCHIVE/llm_calls/day=2025-01-31/prune-<run>-0.parquet``),
so a later prune adds files beside the earlier ones and DuckDB, Spark, Trino or ClickHouse read
the folder as one table. Everything happens inside one transaction: the archive is written from the
transaction's snapshot, its row count is read back from the files and compared, and only then are
the rows deleted and the run recorded. Any failure rolls the deletion back and removes the files
this run wrote, so nothing is lost and nothing is archived twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from otel_llm_cost.query_log import QueryLog

logger = logging.getLogger(__name__)

# Tables archived then deleted, each by its start_time.
ARCHIVED_TABLES = ("llm_calls", "llm_agent_runs")


class RetentionError(Exception):
    """The archive could not be verified, or the database changed under the prune."""


@dataclass(frozen=True)
class PruneResult:
    cutoff: datetime  #: rows that started before this instant are (or would be) removed
    calls: int
    agent_runs: int
    query_log: int
    archive_dir: str | None  #: None: not archived
    dry_run: bool
    archived_files: list[str] = field(default_factory=list)


def default_archive_dir(db_path: str | os.PathLike[str]) -> Path:
    """``<file name without suffix>-archive`` beside the database: ``llm-cost.duckdb`` -> ``llm-cost-archive``."""
    path = Path(db_path).expanduser()
    return path.with_name(f"{path.stem}-archive")


def prune(
    con: duckdb.DuckDBPyConnection,
    *,
    cutoff: datetime,
    archive_dir: str | os.PathLike[str] | None,
    dry_run: bool = False,
    source: str = "prune",
    log: QueryLog | None = None,
    now: datetime | None = None,
) -> PruneResult:
    """Archive (unless ``archive_dir`` is None), verify, and delete everything older than ``cutoff``.

    Args:
        con: a writable connection (a read-only one is enough for ``dry_run``).
        cutoff: rows whose ``start_time`` (``logged_at`` for the query log) is before it go.
        archive_dir: the archive's root folder, created if missing; None deletes without archiving.
        dry_run: only count what would go.
        source: recorded in ``retention_runs.source``.
        log: where the archive's COPY statements are timed.

    Raises:
        RetentionError: the archive does not hold exactly the rows to delete (nothing is deleted).
        duckdb.Error: DuckDB failed (nothing is deleted).
    """
    counts = {table: _count(con, table, "start_time", cutoff) for table in ARCHIVED_TABLES}
    logged = _count(con, "query_log", "logged_at", cutoff)
    archive = None if archive_dir is None else Path(archive_dir).expanduser().resolve()
    if dry_run:
        return PruneResult(cutoff, counts["llm_calls"], counts["llm_agent_runs"], logged, _str(archive), dry_run)

    run_id = f"{(now or datetime.now(timezone.utc)):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    written: list[Path] = []
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ARCHIVED_TABLES:
            if archive is not None and counts[table]:
                written += _archive(con, table, cutoff, archive / table, run_id, counts[table], log)
            deleted = _delete(con, table, "start_time", cutoff)
            if deleted != counts[table]:
                raise RetentionError(f"{table}: {deleted} rows to delete, but {counts[table]} were counted")
        _delete(con, "query_log", "logged_at", cutoff)
        con.execute(
            "INSERT INTO retention_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [now or datetime.now(timezone.utc), source, cutoff, counts["llm_calls"], counts["llm_agent_runs"], logged,
             _str(archive)],
        )  # fmt: skip
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        if archive is not None:  # the rows are still in the database: a later prune archives them again
            for path in archive.glob(f"*/day=*/prune-{run_id}-*.parquet"):
                with contextlib.suppress(OSError):
                    path.unlink()
        raise
    with contextlib.suppress(duckdb.Error):  # hand the deleted rows' space back for reuse now
        con.execute("CHECKPOINT")
    return PruneResult(
        cutoff, counts["llm_calls"], counts["llm_agent_runs"], logged, _str(archive), False, [str(p) for p in written]
    )


def last_run(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the newest prune ran (any source), or None."""
    row = con.execute("SELECT max(ran_at) FROM retention_runs").fetchone()
    return row[0] if row else None


def _archive(
    con: duckdb.DuckDBPyConnection,
    table: str,
    cutoff: datetime,
    folder: Path,
    run_id: str,
    expected: int,
    log: QueryLog | None,
) -> list[Path]:
    """Write ``table``'s rows before ``cutoff`` under ``folder``, partitioned by UTC day; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = f"prune-{run_id}-{{i}}"
    literal = "'" + str(folder).replace("'", "''") + "'"
    head = f"COPY (SELECT *, CAST(timezone('UTC', start_time) AS DATE) AS day FROM {table} WHERE start_time < ?) TO "
    tail = f" (FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE true, FILENAME_PATTERN '{pattern}')"
    (log or QueryLog("prune", enabled=False)).copy(
        con, head + literal + tail, [cutoff], name=table, logged_sql=f"{head}<archive>{tail}"
    )
    files = sorted(folder.glob(f"day=*/prune-{run_id}-*.parquet"))
    # Read back what was written, not what COPY said it wrote.
    row = con.execute("SELECT count(*) FROM read_parquet(?)", [[str(f) for f in files]]).fetchone() if files else (0,)
    archived = int(row[0]) if row else 0
    if archived != expected:
        raise RetentionError(f"the archive of {table} holds {archived} rows, not {expected}")
    return files


def _count(con: duckdb.DuckDBPyConnection, table: str, column: str, cutoff: datetime) -> int:
    # table and column are this module's constants, never user input.
    row = con.execute(f"SELECT count(*) FROM {table} WHERE {column} < ?", [cutoff]).fetchone()
    return int(row[0]) if row else 0


def _delete(con: duckdb.DuckDBPyConnection, table: str, column: str, cutoff: datetime) -> int:
    row = con.execute(f"DELETE FROM {table} WHERE {column} < ?", [cutoff]).fetchone()
    return int(row[0]) if row else 0


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
