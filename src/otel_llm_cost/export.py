"""Export a table or view to CSV, JSON or Parquet, for BI tools and other engines.

DuckDB's own ``COPY ... TO`` writes every format, so rows never pass through Python. What this
module adds is the choosing: which source (any table or view in the file, checked against the
file's own list), which rows (``since``, on the source's time column), and where (one file, or a
hive-partitioned folder of Parquet, ``day=2026-11-01/...``, which DuckDB, Spark, Trino and
ClickHouse read as a table partitioned by ``day``).

Money stays exact in every format: Parquet keeps ``DECIMAL(38, 18)``, CSV writes the decimal's
digits, and JSON writes money as a string of those digits (``"0.000370370367037037"``), as the
report's JSON does, because a JSON number is read as a float by most readers. JSON is one object
per line (NDJSON), which BigQuery, ClickHouse (JSONEachRow), Spark and DuckDB read directly.

A single file is written to a temporary name beside it and renamed into place, so a failed export
never leaves half a file where the previous one was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from otel_llm_cost._timespec import parse_instant, utc_day
from otel_llm_cost.query_log import QueryLog
from otel_llm_cost.store import DuckDBStore

FORMATS = ("csv", "json", "parquet")
SUFFIXES = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet"}
# The column --since filters on: the first of these that the source has.
TIME_COLUMNS = ("start_time", "day", "started_at", "first_call_at", "logged_at", "ran_at", "updated_at")
DEFAULT_SOURCE = "llm_calls"


class ExportError(Exception):
    """The export cannot be made as asked (unknown source, no time column, bad path...)."""


@dataclass(frozen=True)
class ExportSpec:
    """What to export and where.

    Example: ``ExportSpec("costs.parquet", source="llm_daily_cost", since="30d")``.
    """

    path: str | os.PathLike[str]  #: the file, or for ``partition_by_day`` the folder
    format: str | None = None  #: csv, json or parquet; by default from the file's suffix
    source: str = DEFAULT_SOURCE  #: any table or view of the database
    since: str | datetime | None = None  #: ``7d``, ``2026-11-01``, or a datetime; None: every row
    partition_by_day: bool = False  #: Parquet only: a folder with one ``day=YYYY-MM-DD`` folder per UTC day
    #: write into a partitioned folder that holds files: the day folders this export writes are
    #: replaced, the others kept (a single file is always replaced)
    overwrite: bool = False

    def resolved_format(self) -> str:
        if self.format is not None:
            if self.format not in FORMATS:
                raise ExportError(f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
            return self.format
        if self.partition_by_day:
            return "parquet"
        found = SUFFIXES.get(Path(self.path).suffix.lower())
        if found is None:
            raise ExportError(f"cannot tell the format from {os.fspath(self.path)!r}: give one of {', '.join(FORMATS)}")
        return found


@dataclass(frozen=True)
class ExportResult:
    path: str
    source: str
    format: str
    rows: int
    time_column: str | None  #: the column ``since`` was applied to
    since: datetime | None


def sources(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table and view a user can export, sorted (the migrations' bookkeeping table excluded)."""
    rows = con.execute(
        """
        SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT internal
        UNION
        SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal
        """
    ).fetchall()
    return sorted(name for (name,) in rows if not name.startswith("_"))


def columns(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    """Column name -> DuckDB type of a table or view."""
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database()"
        " AND table_name = ? ORDER BY column_index",
        [source],
    ).fetchall()
    return {name: kind for name, kind in rows}


def time_column(source_columns: dict[str, str]) -> str | None:
    return next((c for c in TIME_COLUMNS if c in source_columns), None)


def export(
    con: duckdb.DuckDBPyConnection, spec: ExportSpec, *, log: QueryLog | None = None, now: datetime | None = None
) -> ExportResult:
    """Write ``spec.source`` to ``spec.path``; read-only on the database.

    Raises:
        ExportError: the spec names an unknown source, a format or partitioning the source cannot
            have, ``since`` on a source without a time column, or an unusable path.
        duckdb.Error: DuckDB failed while writing (a full disk, say).
    """
    fmt = spec.resolved_format()
    if spec.partition_by_day and fmt != "parquet":
        raise ExportError("partitioning by day is for Parquet only")
    known = sources(con)
    if spec.source not in known:
        raise ExportError(f"no table or view named {spec.source!r}; choose one of: {', '.join(known)}")
    source_columns = columns(con, spec.source)
    time_col = time_column(source_columns)
    since = _since(spec.since, now)
    if since is not None and time_col is None:
        raise ExportError(f"{spec.source} has no time column ({', '.join(TIME_COLUMNS)}), so --since cannot apply")

    select, params = _select(spec.source, source_columns, fmt, time_col, since)
    target = Path(spec.path).expanduser()
    if spec.partition_by_day:
        rows = _copy_partitioned(con, spec, select, params, source_columns, target, log)
    else:
        rows = _copy_file(con, spec.source, select, params, fmt, target, log)
    return ExportResult(os.fspath(target), spec.source, fmt, rows, time_col if since else None, since)


def export_database(
    db_path: str, spec: ExportSpec, *, query_log: bool | None = None, source: str = "export"
) -> tuple[ExportResult, str | None]:
    """Open ``db_path`` read-only, export, close it, then save the query log.

    Returns:
        The result, and why the query log could not be saved (None when it was, or is off).

    Raises:
        StoreUnavailable: the file cannot be opened for reading.
        ExportError, duckdb.Error: as :func:`export`.
    """
    log = QueryLog(source, enabled=query_log)
    store = DuckDBStore(db_path, read_only=True)
    try:
        result = export(store.con, spec, log=log)
    finally:
        store.close()
        # A failed export is logged too: its time and error are what the log is for.
        note = log.save_to_file(db_path)
    return result, note


def _since(value: str | datetime | None, now: datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return parse_instant(value, now=now or datetime.now(timezone.utc))
    except ValueError as exc:
        raise ExportError(f"since: {exc}") from None


def _select(
    source: str, source_columns: dict[str, str], fmt: str, time_col: str | None, since: datetime | None
) -> tuple[str, list[object]]:
    """The SELECT that feeds COPY, and its parameters."""
    items = []
    for name, kind in source_columns.items():
        if fmt == "json" and kind.startswith("DECIMAL"):
            # Exact digits as a string: a JSON number would be read back as a float.
            items.append(f"CAST({_ident(name)} AS VARCHAR) AS {_ident(name)}")
        else:
            items.append(_ident(name))
    sql = f"SELECT {', '.join(items)} FROM {_ident(source)}"
    params: list[object] = []
    if since is not None and time_col is not None:
        sql += f" WHERE {_ident(time_col)} >= ?"
        params.append(utc_day(since) if source_columns[time_col] == "DATE" else since)
    return sql, params


def _copy_file(
    con: duckdb.DuckDBPyConnection,
    source: str,
    select: str,
    params: list[object],
    fmt: str,
    target: Path,
    log: QueryLog | None,
) -> int:
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name (or partition by day to write a folder)")
    if not target.parent.is_dir():
        raise ExportError(f"folder {target.parent} does not exist")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    options = {"csv": "FORMAT csv, HEADER true", "json": "FORMAT json", "parquet": "FORMAT parquet"}[fmt]
    head, tail = f"COPY ({select}) TO ", f" ({options})"
    try:
        rows = (log or QueryLog("export", enabled=False)).copy(
            con, head + _literal(temporary) + tail, params, name=source, logged_sql=f"{head}<file>{tail}"
        )
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    return rows


def _copy_partitioned(
    con: duckdb.DuckDBPyConnection,
    spec: ExportSpec,
    select: str,
    params: list[object],
    source_columns: dict[str, str],
    target: Path,
    log: QueryLog | None,
) -> int:
    if "day" in source_columns:
        feed = select
    elif "start_time" in source_columns:
        feed = f"SELECT *, CAST(timezone('UTC', start_time) AS DATE) AS day FROM ({select})"
    else:
        raise ExportError(f"cannot partition {spec.source} by day: it has neither a day nor a start_time column")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} is a file; partitioning by day writes a folder")
    if target.is_dir() and any(target.iterdir()) and not spec.overwrite:
        raise ExportError(f"folder {target} is not empty; choose a new one, or overwrite its days")
    if not target.parent.is_dir():
        raise ExportError(f"folder {target.parent} does not exist")
    overwrite = ""
    if spec.overwrite and target.is_dir():
        # Replace the days this export writes, keep the others: re-exporting the last week
        # refreshes a lake. (DuckDB's OVERWRITE would empty every day's folder.)
        for (day,) in con.execute(f"SELECT DISTINCT day FROM ({feed})", params).fetchall():
            shutil.rmtree(target / f"day={day}", ignore_errors=True)
        overwrite = ", OVERWRITE_OR_IGNORE true"
    head, tail = f"COPY ({feed}) TO ", f" (FORMAT parquet, PARTITION_BY (day){overwrite})"
    return (log or QueryLog("export", enabled=False)).copy(
        con, head + _literal(target) + tail, params, name=spec.source, logged_sql=f"{head}<folder>{tail}"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    # COPY takes no parameter for its target: the path is an SQL string literal.
    return "'" + os.fspath(path).replace("'", "''") + "'"
