"""The read API of ``serve``: the process that owns the DuckDB file answers queries on it.

While ``serve`` runs, no other process can open the file (DuckDB: one process per file, and a
read-only open conflicts with the writer's lock too). So reads go through the server, each request
on a connection of its own (a cursor of the store's; for a DuckLake, one that also uses the lake
and has the views' macros), which DuckDB runs concurrently with the writer (MVCC, each query sees
committed data). Only the report and the documented views are offered, never arbitrary SQL:

* ``GET /v1/report?days=14&top=10&currency=EUR``: what ``otel-llm-cost report --format json
  [--currency EUR]`` prints;
* ``GET /v1/views``: the names of the views;
* ``GET /v1/views/<name>?limit=1000``: a view's rows as JSON, money as exact decimal strings.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import duckdb

from otel_llm_cost._report_render import report_to_json
from otel_llm_cost.currency import UnknownCurrency
from otel_llm_cost.report import build_report

MAX_ROWS = 100_000


class ReadError(ValueError):
    """A read request that cannot be answered; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def report_json(con: duckdb.DuckDBPyConnection, *, days: int, top: int, currency: str | None = None) -> str:
    try:
        return report_to_json(build_report(con, days=days, top=top, currency=currency))
    except UnknownCurrency as exc:  # no rates loaded for it: the caller's mistake, said in one line
        raise ReadError(400, str(exc)) from None


def view_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    # The current database only: the file, or the lake (the lake's DuckDB also holds an empty one).
    rows = con.execute(
        "SELECT view_name FROM duckdb_views()"
        " WHERE NOT internal AND schema_name = 'main' AND database_name = current_database() ORDER BY view_name"
    )
    return [str(name) for (name,) in rows.fetchall()]


def view_json(con: duckdb.DuckDBPyConnection, name: str, *, limit: int) -> str:
    if name not in view_names(con):
        raise ReadError(404, f"no view named {name!r}; GET /v1/views lists them")
    # The name is one of the database's own view names (checked above), quoted as an identifier.
    result = con.execute(f'SELECT * FROM "{name}" LIMIT ?', [limit])
    columns = [d[0] for d in result.description or ()]
    rows = result.fetchall()
    return json.dumps({"view": name, "columns": columns, "rows": rows}, default=_json_value)


def bounded_int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ReadError(400, f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ReadError(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact: money never goes through float
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (UUID, bytes)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
