"""Schema migrations from ``sql/migrations``, and views from ``sql/views``.

A migration is a pair of files, ``NNNN_slug.sql`` (up) and ``NNNN_slug.down.sql`` (down). The
stem ``NNNN_slug`` is its identity and ``NNNN`` its order; two files with one number are rejected
when loading, so two branches cannot both add "0003". Each file runs in one transaction together
with its row in ``_otel_llm_cost_migrations``: a failure rolls both back and leaves the migration
pending. Never edit an applied file; add a new one.

Views hold no data, so they are not migrations: every ``sql/views/*.sql`` is a ``CREATE OR
REPLACE VIEW`` (or ``MACRO ... AS TABLE``, named after its file) re-applied after each migrate.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from importlib.abc import Traversable

logger = logging.getLogger(__name__)

MIGRATIONS_TABLE = "_otel_llm_cost_migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)$")
_MACRO_NAME = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?MACRO\s+(\w+)", re.IGNORECASE)


class MigrationError(RuntimeError):
    """A migration file is malformed or failed to apply."""


@dataclass(frozen=True)
class Migration:
    number: int
    name: str  # the file stem, e.g. "0001_initial"
    up_sql: str
    down_sql: str


def sql_dir() -> Traversable:
    """The ``sql`` folder: inside the installed wheel, or at the root of a source checkout."""
    packaged = resources.files("otel_llm_cost") / "sql"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "sql"
    if checkout.is_dir():
        return checkout
    # Say so here, rather than with a bare FileNotFoundError from the first iterdir().
    raise MigrationError(
        f"cannot find the SQL files: neither {str(packaged)!r} (an installed wheel) nor {str(checkout)!r}"
        " (a source checkout) is a folder; reinstall otel-llm-cost"
    )


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """Read and validate every migration, in order."""
    directory = directory or sql_dir() / "migrations"
    files = {entry.name: entry for entry in directory.iterdir() if entry.name.endswith(".sql")}
    migrations: dict[int, Migration] = {}
    for filename in sorted(files):
        if filename.endswith(".down.sql"):
            continue
        stem = filename.removesuffix(".sql")
        match = _NAME.match(stem)
        if not match:
            raise MigrationError(f"migration file {filename!r} is not named NNNN_slug.sql")
        number = int(match.group(1))
        if number in migrations:
            raise MigrationError(f"two migrations are numbered {number:04d}: {migrations[number].name} and {stem}")
        down = files.get(f"{stem}.down.sql")
        if down is None:
            raise MigrationError(f"migration {stem} has no rollback file {stem}.down.sql")
        migrations[number] = Migration(number, stem, files[filename].read_text("utf-8"), down.read_text("utf-8"))
    orphans = {f.removesuffix(".down.sql") for f in files if f.endswith(".down.sql")} - {
        m.name for m in migrations.values()
    }
    if orphans:
        raise MigrationError(f"rollback files without a migration: {', '.join(sorted(orphans))}")
    return [migrations[n] for n in sorted(migrations)]


def applied(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the applied migrations, in order. Read-only: creates nothing."""
    exists = con.execute(
        # duckdb_tables() lists every attached database: look only where the unqualified name resolves.
        "SELECT count(*) FROM duckdb_tables()"
        " WHERE table_name = ? AND schema_name = current_schema() AND database_name = current_database()",
        [MIGRATIONS_TABLE],
    ).fetchone()
    if not exists or not exists[0]:
        return []
    return [row[0] for row in con.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY number").fetchall()]


def pending(con: duckdb.DuckDBPyConnection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Migrations not yet applied, in order. Read-only."""
    done = set(applied(con))
    # `is None`, not `or`: an explicit empty list means "no migrations", not "the packaged ones".
    return [m for m in (load_migrations() if migrations is None else migrations) if m.name not in done]


def migrate(
    con: duckdb.DuckDBPyConnection,
    *,
    to: int | None = None,
    migrations: list[Migration] | None = None,
    views: Sequence[Traversable] | None = None,
) -> list[str]:
    """Bring the schema up (or down) to migration number ``to``; the newest when ``None``.

    Args:
        con: the connection to migrate.
        to: the migration number to end at; ``0`` rolls everything back, ``None`` means the newest.
        migrations: the migrations to use; the packaged ones when ``None``.
        views: the view files to (re)apply afterwards; the packaged ones when ``None``. Pass ``()``
            with a custom ``migrations`` list whose tables the packaged views do not match.

    Returns:
        What was done, in order, as ``"up NAME"`` / ``"down NAME"``.

    Raises:
        MigrationError: ``to`` is unknown, the database holds migrations this version does not
            know, or a step or view failed (a failed step is rolled back and stays pending).
    """
    migrations = migrations if migrations is not None else load_migrations()
    head = migrations[-1].number if migrations else 0
    target = head if to is None else to
    if target != 0 and target not in {m.number for m in migrations}:
        raise MigrationError(f"no migration numbered {target:04d} (known: 0 to {head:04d})")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
        " name VARCHAR PRIMARY KEY, number INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = set(applied(con))
    unknown = done - {m.name for m in migrations}
    if unknown:
        raise MigrationError(
            f"the database has migrations this version does not know: {', '.join(sorted(unknown))}; "
            "it was written by a newer otel-llm-cost"
        )
    steps: list[str] = []
    for migration in migrations:
        if migration.number <= target and migration.name not in done:
            _run(
                con,
                migration.up_sql,
                f"INSERT INTO {MIGRATIONS_TABLE} (name, number) VALUES (?, ?)",
                [migration.name, migration.number],
                migration.name,
            )
            steps.append(f"up {migration.name}")
    for migration in reversed(migrations):
        if migration.number > target and migration.name in done:
            _run(
                con,
                migration.down_sql,
                f"DELETE FROM {MIGRATIONS_TABLE} WHERE name = ?",
                [migration.name],
                migration.name,
            )
            steps.append(f"down {migration.name}")
    apply_views(con, complete=target == head, views=views)
    return steps


def _run(con: duckdb.DuckDBPyConnection, sql: str, record_sql: str, params: list[object], name: str) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(sql)
        con.execute(record_sql, params)
        con.execute("COMMIT")
    except BaseException as exc:
        # BaseException: a KeyboardInterrupt mid-file must not leave the transaction open, or the
        # caller's next statement would commit half a migration. A failed COMMIT has already rolled
        # back, and then ROLLBACK itself fails: suppress that so the original error is the one raised.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        if isinstance(exc, duckdb.Error):
            raise MigrationError(f"migration {name} failed and was rolled back: {exc}") from exc
        raise
    logger.info("applied migration step %s", name)


def view_files() -> list[Traversable]:
    """The packaged ``sql/views/*.sql`` files, by name. Each file's stem is the view it creates."""
    return sorted((e for e in (sql_dir() / "views").iterdir() if e.name.endswith(".sql")), key=lambda e: e.name)


def apply_views(
    con: duckdb.DuckDBPyConnection, *, complete: bool = True, views: Sequence[Traversable] | None = None
) -> None:
    """(Re)create every view. Below the newest schema, views that need newer columns are dropped.

    Args:
        con: the connection.
        complete: the schema is at the newest migration, so every view must apply; otherwise a
            view that fails (it needs a newer column, or the tables are gone) is dropped instead.
        views: the view files; the packaged ones when ``None``.

    Raises:
        MigrationError: a view failed to apply at the newest schema.
    """
    for entry in view_files() if views is None else views:
        sql = entry.read_text("utf-8")
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            view = entry.name.removesuffix(".sql")
            if complete:
                raise MigrationError(f"view {view} failed to apply: {exc}") from exc
            con.execute(f"DROP VIEW IF EXISTS {view}")
            # A file may hold table macros too (llm_what_if, llm_month_to_date_at): DuckDB creates a
            # macro without binding it, so they must be dropped or they outlive their tables.
            for macro in {view, *_MACRO_NAME.findall(sql)}:
                for kind in ("MACRO TABLE", "MACRO"):  # a table macro, or a scalar one (llm_provider_id)
                    with contextlib.suppress(duckdb.Error):  # a name of the other kind
                        con.execute(f"DROP {kind} IF EXISTS {macro}")
            logger.info("view %s is not available at this schema version", view)
