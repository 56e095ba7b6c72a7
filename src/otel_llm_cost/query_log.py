"""The query performance log: how long each query of a command took, kept in ``query_log``.

A command makes one :class:`QueryLog` and runs its queries through it (:meth:`QueryLog.fetch` for
rows, :meth:`QueryLog.copy` for ``COPY ... TO``). Each query is timed, execution and fetch
together, and its row count and outcome are kept in memory; a failing query is recorded, then its
error raised as usual. :meth:`QueryLog.save` appends the entries to ``query_log`` (migration 0010).

Reading commands open the database read-only, and a read-only connection cannot write. So they
save afterwards, with :meth:`QueryLog.save_to_file`: once their read-only connection is closed, it
opens the file read-write for the one ``INSERT`` and closes it again. When that is impossible (the
file or its folder is not writable, another process holds it, the file predates migration 0010),
the entries are not written and the reason is returned for the command to print: the command's
own work is never failed by its log. ``OTEL_LLM_COST_QUERY_LOG=false`` (or a command's
``--no-query-log``) turns recording off.

Hooking another command in takes two lines: ``log = QueryLog("report")``, queries through
``log.fetch(con, sql, params)`` (or ``log.connection(con)`` for code that calls ``con.execute``),
then ``log.save_to_file(path)`` once the connection is closed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import duckdb

from otel_llm_cost import _settings
from otel_llm_cost.environment_variables import OTEL_LLM_COST_QUERY_LOG

T = TypeVar("T")

SQL_TEXT_LIMIT = 4000  # characters of SQL kept per row: enough to recognise any of our queries
_FIRST_SOURCE = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)", re.IGNORECASE)
_COLUMNS = ("logged_at", "source", "name", "sql_hash", "sql_text", "duration_ms", "row_count", "ok", "error")


@dataclass(frozen=True)
class LoggedQuery:
    """One row of ``query_log``."""

    logged_at: datetime  #: when the query started (UTC)
    source: str  #: the command that ran it
    name: str  #: the view or table it read, or what it is for
    sql_hash: str  #: first 16 hex digits of the SQL's SHA-256
    sql_text: str  #: the SQL, cut to SQL_TEXT_LIMIT characters
    duration_ms: float
    row_count: int | None  #: rows returned or written; None when it failed
    ok: bool
    error: str | None


def enabled_by_default() -> bool:
    """:envvar:`OTEL_LLM_COST_QUERY_LOG`, else on."""
    return _settings.boolean("query_log", None, OTEL_LLM_COST_QUERY_LOG, True)


class QueryLog:
    """Times the queries of one command and keeps them until they are saved.

    Args:
        source: the command, stored in ``query_log.source`` (``export``, ``health``, ``report``...).
        enabled: record the queries; by default :envvar:`OTEL_LLM_COST_QUERY_LOG`, else True. Off,
            queries run exactly the same and nothing is kept.
    """

    def __init__(self, source: str, *, enabled: bool | None = None) -> None:
        self.source = source
        self.enabled = enabled_by_default() if enabled is None else enabled
        self.entries: list[LoggedQuery] = []

    def fetch(
        self, con: duckdb.DuckDBPyConnection, sql: str, params: object = None, *, name: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run a query and return all its rows."""
        return self.run(con, sql, params, name=name, fetch=lambda result: result.fetchall(), count=len)

    def copy(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        params: object = None,
        *,
        name: str | None = None,
        logged_sql: str | None = None,
    ) -> int:
        """Run a ``COPY ... TO`` statement and return the number of rows it wrote.

        ``logged_sql`` is what to record instead of ``sql``: the statement without its target file,
        so that every run of one export has one ``sql_hash``."""

        def written(result: duckdb.DuckDBPyConnection) -> int:
            row = result.fetchone()
            return int(row[0]) if row else 0

        return self.run(con, sql, params, name=name, fetch=written, count=lambda rows: rows, logged_sql=logged_sql)

    def run(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        params: object,
        *,
        name: str | None,
        fetch: Callable[[duckdb.DuckDBPyConnection], T],
        count: Callable[[T], int],
        logged_sql: str | None = None,
    ) -> T:
        """Run ``sql``, hand the result to ``fetch`` and record the time both took and ``count(rows)``."""
        if not self.enabled:
            return fetch(con.execute(sql, params))
        logged_at = datetime.now(timezone.utc)
        started = time.perf_counter()
        try:
            value = fetch(con.execute(sql, params))
        except Exception as exc:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._add(logged_at, started, logged_sql or sql, name, None, error)
            raise
        self._add(logged_at, started, logged_sql or sql, name, count(value), None)
        return value

    def connection(self, con: duckdb.DuckDBPyConnection) -> LoggedConnection:
        """``con`` with its ``execute`` timed: for code written against a plain connection."""
        return LoggedConnection(con, self)

    def _add(
        self, logged_at: datetime, started: float, sql: str, name: str | None, rows: int | None, error: str | None
    ) -> None:
        text = " ".join(sql.split())  # one line: the log is read in tables and terminals
        self.entries.append(
            LoggedQuery(
                logged_at=logged_at,
                source=self.source,
                name=name or _first_source(text),
                sql_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
                sql_text=text[:SQL_TEXT_LIMIT],
                duration_ms=(time.perf_counter() - started) * 1000,
                row_count=rows,
                ok=error is None,
                error=error,
            )
        )

    def save(self, con: duckdb.DuckDBPyConnection) -> int:
        """Append the entries to ``query_log`` through a writable connection; return how many.

        Raises:
            duckdb.Error: the table is missing or cannot be written. The entries are kept.
        """
        if not self.entries:
            return 0
        placeholders = ", ".join("?" for _ in _COLUMNS)
        con.executemany(
            f"INSERT INTO query_log ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
            [list(astuple(entry)) for entry in self.entries],
        )
        saved = len(self.entries)
        self.entries.clear()
        return saved

    def save_to_file(self, path: str) -> str | None:
        """Append the entries to ``query_log`` in the file at ``path``, opened read-write only for
        that, after the caller closed its own connection.

        Returns:
            None when the entries were saved (or there were none); otherwise why they were not.
        """
        if not self.entries:
            return None
        try:
            con = duckdb.connect(path)
        except duckdb.Error as exc:
            return f"query log not saved: cannot open {path} for writing ({str(exc).splitlines()[0]})"
        try:
            if not has_query_log(con):
                return f"query log not saved: {path} has no query_log table (run: otel-llm-cost migrate --db {path})"
            self.save(con)
        except duckdb.Error as exc:
            return f"query log not saved: {str(exc).splitlines()[0]}"
        finally:
            con.close()
        return None


class LoggedConnection:
    """A connection whose ``execute(...).fetchall()`` / ``.fetchone()`` are recorded in a :class:`QueryLog`.

    Everything else is the wrapped connection's. The time covers execution and the fetch.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, log: QueryLog) -> None:
        self._con = con
        self._log = log

    def execute(self, sql: str, params: object = None) -> LoggedResult:
        return LoggedResult(self._con, self._log, sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class LoggedResult:
    """A query not run yet: it runs, timed, on the first fetch."""

    def __init__(self, con: duckdb.DuckDBPyConnection, log: QueryLog, sql: str, params: object) -> None:
        self._con, self._log, self._sql, self._params = con, log, sql, params

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._log.fetch(self._con, self._sql, self._params)

    def fetchone(self) -> tuple[Any, ...] | None:
        def fetch_one(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
            return result.fetchone()

        def count(row: tuple[Any, ...] | None) -> int:
            return 0 if row is None else 1

        return self._log.run(self._con, self._sql, self._params, name=None, fetch=fetch_one, count=count)


def has_query_log(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'query_log' AND database_name = current_database()"
    ).fetchone()
    return bool(row and row[0])


def slowest(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[dict[str, Any]]:
    """The ``limit`` slowest queries in ``query_log`` (grouped by SQL): runs, worst and median time.

    Empty when the database has no ``query_log`` yet."""
    if not has_query_log(con):
        return []
    cursor = con.execute(
        """
        SELECT any_value(source ORDER BY duration_ms DESC) AS source, any_value(name ORDER BY duration_ms DESC) AS name,
               sql_hash, count(*) AS runs, max(duration_ms) AS max_ms, median(duration_ms) AS median_ms,
               max(row_count) AS max_rows, count(*) FILTER (WHERE NOT ok) AS failed, max(logged_at) AS last_run
        FROM query_log
        GROUP BY sql_hash
        ORDER BY max_ms DESC, sql_hash
        LIMIT ?
        """,
        [limit],
    )
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _first_source(sql: str) -> str:
    """The first table or view an SQL statement reads (``FROM``/``JOIN``), else its first word."""
    match = _FIRST_SOURCE.search(sql)
    if match:
        return match.group(1)
    return sql.split(" ", 1)[0].lower() if sql else "?"
