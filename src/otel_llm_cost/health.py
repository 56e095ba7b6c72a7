"""``otel-llm-cost health``: is the cost database complete and current?

Read-only. It answers what an operator asks before trusting the numbers: which schema, how many
calls, when the last one was written, how many are unpriced or duplicates, and how many spans
never arrived (queue drops and failed writes, as each writing process recorded them in
``llm_ingest_health``), plus the file's size, the last prune (``retention_runs``) and the slowest
queries the commands ran (``query_log``). Its own queries are timed into that log too.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from otel_llm_cost import query_log
from otel_llm_cost.migrations import applied, load_migrations

# The counters of ProcessorStats that a health row keeps.
_COUNTERS = ("processed", "stored", "already_stored", "dropped_queue_full", "store_failed", "malformed",
             "forward_failed", "forward_dropped_queue_full")  # fmt: skip


def ingest_health_row(stats: object, pid: int, started_ns: int) -> dict[str, object]:
    """The ``llm_ingest_health`` row of one writing process, from its ``ProcessorStats``."""
    host = socket.gethostname()
    return {
        "process_key": f"{host}:{pid}:{started_ns}",
        "host": host,
        "pid": pid,
        "started_at": datetime.fromtimestamp(started_ns / 1e9, tz=timezone.utc),
        "updated_at": datetime.now(tz=timezone.utc),
        **{name: getattr(stats, name) for name in _COUNTERS},
    }


@dataclass(frozen=True)
class ProcessHealth:
    """One writing process's counters (a row of ``llm_ingest_health``)."""

    host: str | None
    pid: int | None
    started_at: datetime
    updated_at: datetime
    processed: int
    stored: int
    dropped_queue_full: int
    store_failed: int
    malformed: int
    forward_failed: int
    forward_dropped_queue_full: int

    @property
    def lost(self) -> int:
        """Spans that never reached llm_calls."""
        return self.dropped_queue_full + self.store_failed + self.malformed


@dataclass(frozen=True)
class Health:
    path: str
    file_bytes: int
    wal_bytes: int
    schema: str | None  #: newest applied migration
    pending_migrations: list[str]
    calls: int
    unpriced_calls: int
    duplicate_calls: int
    agent_runs: int
    price_rows: int
    last_write: datetime | None
    first_call: datetime | None
    last_call: datetime | None
    processes: list[ProcessHealth]
    last_prune: dict[str, Any] | None = None  #: the newest retention_runs row
    slowest_queries: list[dict[str, Any]] = dataclasses.field(default_factory=list)  #: from query_log

    @property
    def lost(self) -> int:
        return sum(p.lost for p in self.processes)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lost"] = self.lost
        for process, row in zip(self.processes, data["processes"], strict=True):
            row["lost"] = process.lost
        return data


def check(
    con: duckdb.DuckDBPyConnection, path: str, *, log: query_log.QueryLog | None = None, slowest: int = 5
) -> Health:
    """Gather the health of an open (read-only is enough) cost database.

    Args:
        log: times the queries (saved by the caller); by default they are not recorded.
        slowest: how many of the slowest logged queries to list.
    """
    timed = (log or query_log.QueryLog("health", enabled=False)).connection(con)
    done = applied(con)
    pending = [m.name for m in load_migrations() if m.name not in set(done)]
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

    def one(sql: str) -> Any:
        row = timed.execute(sql).fetchone()
        return row[0] if row else None

    calls = unpriced = duplicates = 0
    last_write = first_call = last_call = None
    if "llm_calls" in tables:
        calls, unpriced, duplicates, last_write, first_call, last_call = timed.execute(
            "SELECT count(*), count(*) FILTER (WHERE cost_usd IS NULL), count(*) FILTER (WHERE is_duplicate),"
            " max(ingested_at), min(start_time), max(start_time) FROM llm_calls"
        ).fetchone() or (0, 0, 0, None, None, None)
    processes: list[ProcessHealth] = []
    if "llm_ingest_health" in tables:
        rows = timed.execute(
            "SELECT host, pid, started_at, updated_at, processed, stored, dropped_queue_full, store_failed,"
            " malformed, forward_failed, forward_dropped_queue_full FROM llm_ingest_health ORDER BY updated_at DESC"
        ).fetchall()
        processes = [ProcessHealth(*row) for row in rows]
    file = Path(path)
    wal = Path(f"{path}.wal")
    return Health(
        path=os.fspath(file.resolve()),
        file_bytes=file.stat().st_size if file.exists() else 0,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        schema=done[-1] if done else None,
        pending_migrations=pending,
        calls=int(calls),
        unpriced_calls=int(unpriced),
        duplicate_calls=int(duplicates),
        agent_runs=int(one("SELECT count(*) FROM llm_agent_runs") if "llm_agent_runs" in tables else 0),
        price_rows=int(one("SELECT count(*) FROM model_prices") if "model_prices" in tables else 0),
        last_write=last_write,
        first_call=first_call,
        last_call=last_call,
        processes=processes,
        last_prune=_last_prune(con) if "retention_runs" in tables else None,
        slowest_queries=query_log.slowest(con, slowest),
    )


def _last_prune(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    cursor = con.execute("SELECT * FROM retention_runs ORDER BY ran_at DESC LIMIT 1")
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description or []], row, strict=True))
