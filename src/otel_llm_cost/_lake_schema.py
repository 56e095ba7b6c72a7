"""The cost schema on DuckLake: the tables the packaged migrations make, and the same views.

DuckLake (format 1.0, in the duckdb 1.5.5 extension) refuses ``PRIMARY KEY``/``UNIQUE``
constraints and indexes, and ``ALTER TABLE ... ADD COLUMN`` with a default that is not a plain
literal (``DEFAULT false`` included). It keeps ``NOT NULL``, ``DEFAULT current_timestamp`` in
``CREATE TABLE``, ``JSON``, ``DECIMAL(38, 18)`` and ``TIMESTAMPTZ``. So the migration files are not
replayed here. The schema is *derived* from them: they are applied to an in-memory DuckDB, and
each of its tables, column by column (type, NOT NULL, default), is created in the lake without its
key, or given the columns it lacks (added, then ``SET DEFAULT``). The migrations are then recorded
as applied. Uniqueness on the keys is kept by the store's fenced anti-join insert
(:mod:`otel_llm_cost.ducklake`). The views are the same files, unchanged.

Limit: a future migration that rewrites existing rows (as 0002 filled ``computed_cost_usd``) is
not replayed on a lake that already holds rows; its new columns are added, empty.

One table of our own goes beside the cost tables, ``_otel_llm_cost_lake``, with one row:
``commits`` is the *write fence*: every transaction that writes cost rows or the schema updates
it, so DuckLake sees two of them as conflicting (both deleted from one table) and aborts the later,
which runs again against the newer snapshot. ``views_sha256`` names the view files applied last.
Many processes may open a new lake at once: the schema is brought up to date in one fenced
transaction, retried on conflict, that first looks at what is there. So it happens once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

import duckdb

from otel_llm_cost._lake_retry import in_transaction, retry_conflicts
from otel_llm_cost.migrations import (
    MIGRATIONS_TABLE,
    MigrationError,
    applied,
    load_migrations,
    migrate,
    view_files,
)

if TYPE_CHECKING:
    from importlib.abc import Traversable

STATE_TABLE: Final = "_otel_llm_cost_lake"
FENCE_SQL: Final = f"UPDATE {STATE_TABLE} SET commits = commits + 1"

# name, type, NOT NULL, default expression (None: no default), in table order
_Column = tuple[str, str, bool, str | None]


def reference_schema() -> dict[str, list[_Column]]:
    """Each table the packaged migrations create, with its columns, read from an in-memory DuckDB."""
    with duckdb.connect(":memory:") as con:
        migrate(con, views=())
        rows = con.execute(
            "SELECT table_name, column_name, data_type, NOT is_nullable, column_default FROM duckdb_columns()"
            " WHERE database_name = current_database() ORDER BY table_name, column_index"
        ).fetchall()
    tables: dict[str, list[_Column]] = {}
    for table, *column in rows:
        tables.setdefault(table, []).append((column[0], column[1], bool(column[2]), column[3]))
    return tables


def migrate_lake(con: duckdb.DuckDBPyConnection, *, deadline_s: float) -> list[str]:
    """Bring the lake ``con`` uses up to the newest schema, and its views up to date.

    Returns:
        What this call changed (``"create TABLE"``, ``"add TABLE.COLUMN"``, ``"views"``); empty
        when the lake was already current or another process got there first.

    Raises:
        MigrationError: a newer otel-llm-cost wrote the lake, a table of ours has another shape,
            or the change failed (and was rolled back).
    """
    migrations = load_migrations()
    reference = reference_schema()
    views = view_files()
    digest = hashlib.sha256()
    for entry in views:
        digest.update(entry.name.encode() + b"\0" + entry.read_bytes())

    def step() -> list[str]:
        con.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (commits BIGINT NOT NULL, views_sha256 VARCHAR)")
        con.execute(f"INSERT INTO {STATE_TABLE} SELECT 0, NULL WHERE NOT EXISTS (FROM {STATE_TABLE})")
        changes = _sync_tables(con, reference)
        done = set(applied(con))
        unknown = done - {m.name for m in migrations}
        if unknown:
            raise MigrationError(
                f"the lake has migrations this version does not know: {', '.join(sorted(unknown))}; "
                "it was written by a newer otel-llm-cost"
            )
        for migration in migrations:
            if migration.name not in done:
                con.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (name, number) VALUES (?, ?)", [migration.name, migration.number]
                )
                changes.append(f"up {migration.name}")
        row = con.execute(f"SELECT views_sha256 FROM {STATE_TABLE}").fetchone()
        if row is None or row[0] != digest.hexdigest():
            con.execute(f"UPDATE {STATE_TABLE} SET views_sha256 = ?", [digest.hexdigest()])
            # In file order, as apply_views does: a view may use a macro (llm_provider_id), a macro a
            # view (llm_daily_cost_in). The macros are this connection's TEMP ones (see below).
            for statement in _statements(views):
                con.execute(_MACRO.sub("CREATE OR REPLACE TEMP MACRO", statement, count=1))
            changes.append("views")
        if changes:
            con.execute(FENCE_SQL)
        return changes

    try:
        return retry_conflicts(
            lambda: in_transaction(con, step), what="updating the lake's schema", deadline_s=deadline_s
        )
    except duckdb.Error as exc:
        raise MigrationError(f"updating the lake's schema failed and was rolled back: {_first_line(exc)}") from exc


def _sync_tables(con: duckdb.DuckDBPyConnection, reference: dict[str, list[_Column]]) -> list[str]:
    """Create missing tables and add missing columns; refuse a column of ours with another type."""
    present: dict[str, dict[str, str]] = {}
    for table, column, data_type in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns()"
        " WHERE database_name = current_database() AND schema_name = current_schema()"
    ).fetchall():
        present.setdefault(table, {})[column] = data_type
    changes: list[str] = []
    for table, columns in reference.items():
        existing = present.get(table)
        if existing is None:
            con.execute(f"CREATE TABLE {table} ({', '.join(_definition(c) for c in columns)})")
            changes.append(f"create {table}")
            continue
        for name, data_type, _not_null, default in columns:
            if name in existing:
                if existing[name] != data_type:
                    raise MigrationError(
                        f"column {table}.{name} is {existing[name]} in the lake, not {data_type}: "
                        "is this another tool's table?"
                    )
                continue
            # DuckLake adds a column only with a literal default; NOT NULL cannot be added at all.
            con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {data_type}")
            if default is not None:
                con.execute(f"ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT {default}")
            changes.append(f"add {table}.{name}")
    return changes


def _definition(column: _Column) -> str:
    name, data_type, not_null, default = column
    return f"{name} {data_type}{' NOT NULL' if not_null else ''}{'' if default is None else f' DEFAULT {default}'}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# The view files' table and scalar macros (llm_provider_id, llm_month_to_date_at, llm_what_if, ...).
_MACRO: Final = re.compile(r"CREATE\s+OR\s+REPLACE\s+MACRO\b", re.IGNORECASE)


def _statements(views: Sequence[Traversable]) -> Iterator[str]:
    for entry in views:
        for statement in duckdb.extract_statements(entry.read_text("utf-8")):
            yield statement.query


def create_temp_macros(con: duckdb.DuckDBPyConnection, views: Sequence[Traversable] | None = None) -> None:
    """Create the view files' macros on this connection, as TEMP macros.

    DuckLake's catalog stores tables and views but not macros (their untyped parameters have no
    DuckLake type), so every connection to a lake defines them again, in its own temp catalog,
    where the lake's views find them by name. Call it on every connection that reads the views,
    once the views exist (a macro may read a view).
    """
    for statement in _statements(view_files() if views is None else views):
        if _MACRO.search(statement):
            con.execute(_MACRO.sub("CREATE OR REPLACE TEMP MACRO", statement, count=1))
