"""Migrations: loading, applying, rolling back, and upgrading a database that already holds data.

Follows sqlite-utils' test_migrations.py: a blank database, applying twice, a failing file that
rolls back, and schema equality after a round trip.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import VIEWS

from otel_llm_cost.migrations import (
    MIGRATIONS_TABLE,
    Migration,
    MigrationError,
    applied,
    load_migrations,
    migrate,
    pending,
)
from otel_llm_cost.store import DuckDBStore

NAMES = [
    "0001_initial",
    "0002_reported_cost",
    "0003_call_details",
    "0004_agent_runs",
    "0005_test_id",
    "0006_captured_attributes",
    "0007_ingest_health",
    "0008_price_catalog",
    "0009_reprice_and_currencies",
    "0010_query_log",
    "0011_budgets",
]
# Views that need a newer migration than 0001: the first migration number they can be created at.
VIEW_NEEDS = {"llm_top_calls": 2, "llm_cost_by_agent_run": 4, "llm_cost_by_trace": 4, "llm_cost_by_test": 5,
              "model_prices_current": 8, "budget_status": 11}  # fmt: skip


def views_at(number: int) -> list[str]:
    """The views that exist once the schema is at migration ``number``."""
    return [v for v in VIEWS if VIEW_NEEDS.get(v, 1) <= number]


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql, "utf-8")
    return folder


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]


def views(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]


def schema(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Everything that defines the schema: table and view SQL, and every column in order."""
    return {
        "tables": con.execute("SELECT table_name, sql FROM duckdb_tables() ORDER BY table_name").fetchall(),
        "views": con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
        ).fetchall(),
        "columns": con.execute(
            "SELECT table_name, column_index, column_name, data_type, is_nullable, column_default"
            " FROM duckdb_columns() WHERE NOT internal ORDER BY table_name, column_index"
        ).fetchall(),
        "constraints": con.execute(
            "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints()"
            " ORDER BY table_name, constraint_type, constraint_column_names"
        ).fetchall(),
    }


# --- loading ---------------------------------------------------------------------------------


def test_packaged_migrations_load_in_order() -> None:
    migrations = load_migrations()
    assert [(m.number, m.name) for m in migrations] == [(int(name[:4]), name) for name in NAMES]  # gaps are fine
    for m in migrations:
        assert "ALTER TABLE" in m.up_sql or "CREATE TABLE" in m.up_sql
        assert m.down_sql.strip()


def test_load_sorts_by_number_and_ignores_other_files(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0010_later.sql": "CREATE TABLE b (x INT);",
            "0010_later.down.sql": "DROP TABLE b;",
            "0002_first.sql": "CREATE TABLE a (x INT);",
            "0002_first.down.sql": "DROP TABLE a;",
            "README.md": "not a migration",
        },
    )
    assert [m.name for m in load_migrations(folder)] == ["0002_first", "0010_later"]


def test_duplicate_numbers_are_rejected_at_load(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_alpha.sql": "CREATE TABLE a (x INT);",
            "0001_alpha.down.sql": "DROP TABLE a;",
            "0001_beta.sql": "CREATE TABLE b (x INT);",
            "0001_beta.down.sql": "DROP TABLE b;",
        },
    )
    with pytest.raises(MigrationError, match="two migrations are numbered 0001: 0001_alpha and 0001_beta"):
        load_migrations(folder)


def test_missing_down_file_is_rejected_at_load(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {"0001_alpha.sql": "CREATE TABLE a (x INT);"})
    with pytest.raises(MigrationError, match=r"0001_alpha has no rollback file 0001_alpha\.down\.sql"):
        load_migrations(folder)


def test_down_file_without_migration_is_rejected(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"0001_a.sql": "SELECT 1;", "0001_a.down.sql": "SELECT 1;", "0002_gone.down.sql": "SELECT 1;"},
    )
    with pytest.raises(MigrationError, match="rollback files without a migration: 0002_gone"):
        load_migrations(folder)


@pytest.mark.parametrize("filename", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql", "0001_initial.up.sql"])
def test_badly_named_file_is_rejected(tmp_path: Path, filename: str) -> None:
    folder = write_migrations(tmp_path / "m", {filename: "SELECT 1;"})
    with pytest.raises(MigrationError, match=r"is not named NNNN_slug\.sql"):
        load_migrations(folder)


# --- applying --------------------------------------------------------------------------------


def test_blank_database_has_everything_pending_and_reading_creates_nothing() -> None:
    con = duckdb.connect()
    assert applied(con) == []
    assert [m.name for m in pending(con)] == NAMES
    assert tables(con) == []  # applied() and pending() are read-only


def test_pending_with_an_explicit_empty_list_is_empty() -> None:
    # An empty list means "no migrations", not "the packaged ones".
    assert pending(duckdb.connect(), []) == []


def test_migrate_applies_all_then_nothing() -> None:
    con = duckdb.connect()
    assert migrate(con) == [f"up {name}" for name in NAMES]
    assert applied(con) == NAMES
    assert pending(con) == []
    assert tables(con) == [MIGRATIONS_TABLE, "exchange_rates", "llm_agent_runs", "llm_budget_alerts",
                           "llm_budget_deliveries", "llm_budgets", "llm_calls", "llm_ingest_health", "llm_price_audit",
                           "model_price_catalogs", "model_prices", "query_log", "retention_runs"]  # fmt: skip
    assert views(con) == VIEWS
    recorded = con.execute(f"SELECT name, number, applied_at IS NOT NULL FROM {MIGRATIONS_TABLE} ORDER BY number")
    assert recorded.fetchall() == [("0001_initial", 1, True), ("0002_reported_cost", 2, True),
                                   ("0003_call_details", 3, True), ("0004_agent_runs", 4, True),
                                   ("0005_test_id", 5, True), ("0006_captured_attributes", 6, True),
                                   ("0007_ingest_health", 7, True), ("0008_price_catalog", 8, True),
                                   ("0009_reprice_and_currencies", 9, True), ("0010_query_log", 10, True),
                                   ("0011_budgets", 11, True)]  # fmt: skip
    # Applying twice is a no-op that still (re)creates the views.
    assert migrate(con) == []
    assert views(con) == VIEWS


def test_migrations_table_in_another_attached_database_is_not_ours() -> None:
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS other")
    con.execute(f"CREATE TABLE other.{MIGRATIONS_TABLE} (name VARCHAR, number INTEGER)")
    con.execute(f"INSERT INTO other.{MIGRATIONS_TABLE} VALUES ('0001_initial', 1)")
    assert applied(con) == []
    assert migrate(con) == [f"up {name}" for name in NAMES]


def test_failing_migration_leaves_nothing_behind_and_stays_pending(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_good.sql": "CREATE TABLE good (x INT);",
            "0001_good.down.sql": "DROP TABLE good;",
            # The first statement succeeds; the second fails, so the first must be undone too.
            "0002_broken.sql": "CREATE TABLE half (x INT);\nINSERT INTO half VALUES (1);\nSELECT * FROM no_such_table;",
            "0002_broken.down.sql": "DROP TABLE half;",
        },
    )
    con = duckdb.connect()
    with pytest.raises(MigrationError, match="migration 0002_broken failed and was rolled back"):
        migrate(con, migrations=load_migrations(folder), views=())
    assert tables(con) == [MIGRATIONS_TABLE, "good"]  # no "half"
    assert con.execute(f"SELECT name FROM {MIGRATIONS_TABLE}").fetchall() == [("0001_good",)]
    assert applied(con) == ["0001_good"]
    assert [m.name for m in pending(con, load_migrations(folder))] == ["0002_broken"]
    # No transaction is left open: fix the file and the pending migration applies.
    (folder / "0002_broken.sql").write_text("CREATE TABLE half (x INT);", "utf-8")
    assert migrate(con, migrations=load_migrations(folder), views=()) == ["up 0002_broken"]
    assert tables(con) == [MIGRATIONS_TABLE, "good", "half"]


def test_failing_down_migration_stays_applied(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_good.sql": "CREATE TABLE good (x INT); CREATE TABLE other (y INT);",
            "0001_good.down.sql": "DROP TABLE other; DROP TABLE no_such_table;",
        },
    )
    con = duckdb.connect()
    migrate(con, migrations=load_migrations(folder), views=())
    with pytest.raises(MigrationError, match="migration 0001_good failed and was rolled back"):
        migrate(con, to=0, migrations=load_migrations(folder), views=())
    assert tables(con) == [MIGRATIONS_TABLE, "good", "other"]
    assert applied(con) == ["0001_good"]


class _InterruptingConnection:
    """Delegates to a real connection, but raises KeyboardInterrupt when it sees ``trigger``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, trigger: str) -> None:
        self.con, self.trigger = con, trigger

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        if self.trigger in sql:
            raise KeyboardInterrupt
        return self.con.execute(sql, params)


def test_interrupted_migration_rolls_back() -> None:
    con = duckdb.connect()
    migration = Migration(1, "0001_x", "CREATE TABLE x (a INT);", "DROP TABLE x;")
    # Interrupt at the record INSERT, after the migration's own SQL ran inside the transaction.
    wrapper: Any = _InterruptingConnection(con, f"INSERT INTO {MIGRATIONS_TABLE}")
    with pytest.raises(KeyboardInterrupt):
        migrate(wrapper, migrations=[migration], views=())
    assert tables(con) == [MIGRATIONS_TABLE]
    con.execute("BEGIN TRANSACTION")  # would fail if the interrupted transaction were still open
    con.execute("ROLLBACK")


def test_database_from_a_newer_version_is_refused() -> None:
    con = duckdb.connect()
    migrate(con)
    con.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, number) VALUES ('0099_future', 99)")
    with pytest.raises(MigrationError, match="does not know: 0099_future; it was written by a newer otel-llm-cost"):
        migrate(con)


@pytest.mark.parametrize("to", [-1, 50, 99])
def test_unknown_target_is_refused(to: int) -> None:
    con = duckdb.connect()
    with pytest.raises(MigrationError, match=rf"no migration numbered .* \(known: 0 to {NAMES[-1][:4]}\)"):
        migrate(con, to=to)
    assert tables(con) == []


def test_broken_view_at_the_newest_schema_is_an_error(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "v", {"broken_view.sql": "CREATE OR REPLACE VIEW broken_view AS SELECT nope"})
    con = duckdb.connect()
    with pytest.raises(MigrationError, match="view broken_view failed to apply"):
        migrate(con, views=[folder / "broken_view.sql"])
    assert applied(con) == NAMES  # the migrations themselves committed


# --- up and down -----------------------------------------------------------------------------


def test_migrate_down_and_up_step_by_step() -> None:
    con = duckdb.connect()
    assert migrate(con, to=1) == ["up 0001_initial"]
    assert applied(con) == ["0001_initial"]
    # Views that need only 0001 exist at version 1 and can be queried; VIEW_NEEDS says what the others need.
    at_v1 = views_at(1)
    at_v3 = views_at(3)
    assert views(con) == at_v1
    for view in at_v1:
        # Empty, but for the constant alias list and this month's (zero) spend.
        empty = view not in ("llm_aliased_providers", "llm_month_to_date")
        assert con.execute(f"SELECT count(*) = 0 FROM {view}").fetchone() == (empty,)
    assert migrate(con, to=5) == ["up 0002_reported_cost", "up 0003_call_details", "up 0004_agent_runs",
                                  "up 0005_test_id"]  # fmt: skip
    assert views(con) == views_at(5)
    assert migrate(con, to=4) == ["down 0005_test_id"]
    assert views(con) == views_at(4)
    assert "test_id" not in [r[0] for r in con.execute("DESCRIBE llm_calls").fetchall()]
    assert migrate(con, to=3) == ["down 0004_agent_runs"]
    assert views(con) == at_v3
    assert migrate(con, to=2) == ["down 0003_call_details"]
    assert "customer_id" not in [r[0] for r in con.execute("DESCRIBE llm_calls").fetchall()]
    assert migrate(con, to=1) == ["down 0002_reported_cost"]
    assert "cost_source" not in [r[0] for r in con.execute("DESCRIBE llm_calls").fetchall()]
    assert migrate(con, to=0) == ["down 0001_initial"]
    assert applied(con) == []
    # Views over dropped tables are dropped too, not left broken; the provider alias list reads no table.
    assert tables(con) == [MIGRATIONS_TABLE]
    assert views(con) == ["llm_aliased_providers"]
    assert migrate(con, to=0) == []


def test_up_down_up_ends_exactly_where_it_started(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "round-trip.duckdb"))
    migrate(con)
    before = schema(con)
    assert migrate(con, to=0) == [f"down {name}" for name in reversed(NAMES)]
    assert migrate(con) == [f"up {name}" for name in NAMES]
    assert schema(con) == before
    assert before["views"] and before["columns"]  # the comparison compared something


# --- upgrading a database that holds data ----------------------------------------------------

_V1_COLUMNS = (
    "trace_id, span_id, parent_span_id, start_time, end_time, span_name, service_name, environment, provider,"
    " operation, request_model, response_model, priced_provider, priced_model, response_id, input_tokens,"
    " cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_usd, input_cost_usd,"
    " cache_read_cost_usd, cache_write_cost_usd, output_cost_usd, other_cost_usd, pricing_status, pricing_detail,"
    " price_id, price_version, is_duplicate, user_id, conversation_id, agent_name, status_code, error_type,"
    " ingested_at"
)
_T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.timezone.utc)
_V1_ROWS = [
    # A priced call, written by a 0001-era version: no computed/reported columns yet.
    (
        "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", None, _T0, _T0 + dt.timedelta(seconds=2),
        "chat gpt-4o", "svc", "prod", "openai", "chat", "gpt-4o", "gpt-4o-2024-08-06", "openai", "gpt-4o",
        "chatcmpl-1", 1200, 200, 0, 300, 50, Decimal("0.004750000000000000"), Decimal("0.002500000000000000"),
        Decimal("0.000250000000000000"), Decimal("0E-18"), Decimal("0.003000000000000000"), None, "priced", None,
        "p1", "genai-prices==0.0.1", False, "u1", "c1", "agent", "OK", None, _T0 + dt.timedelta(seconds=3),
    ),
    # An unpriced call: cost NULL, never 0.
    (
        "0af7651916cd43dd8448eb211c80319c", "00f067aa0ba902b7", "b7ad6b7169203331", _T0, _T0,
        "chat mystery", None, None, "acme", "chat", "mystery-1", None, None, None,
        None, 10, None, None, 5, None, None, None,
        None, None, None, None, "unknown_model", "no price for mystery-1", None, "genai-prices==0.0.1", True, None,
        None, None, "ERROR", "RateLimitError", _T0,
    ),
]  # fmt: skip


def test_upgrade_keeps_every_row_and_backfills_computed_cost(tmp_path: Path) -> None:
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as con:
        con.execute("SET TimeZone = 'UTC'")
        migrate(con, to=1)
        placeholders = ", ".join("?" * len(_V1_ROWS[0]))
        con.executemany(f"INSERT INTO llm_calls ({_V1_COLUMNS}) VALUES ({placeholders})", _V1_ROWS)

    with DuckDBStore(path) as store:  # opening migrates; there is no separate step
        assert applied(store.con) == NAMES
        kept = store.con.execute(f"SELECT {_V1_COLUMNS} FROM llm_calls ORDER BY span_id DESC").fetchall()
        assert kept == _V1_ROWS
        added = store.con.execute(
            "SELECT span_id, computed_cost_usd, reported_cost_usd, cost_source, input_excluded_cache,"
            " cache_write_1h_tokens, customer_id, scope_name, reported_cost_error"
            " FROM llm_calls ORDER BY span_id DESC"
        ).fetchall()
    assert added == [
        ("b7ad6b7169203331", Decimal("0.004750000000000000"), None, "computed", False, None, None, None, None),
        ("00f067aa0ba902b7", None, None, None, False, None, None, None, None),
    ]


def test_downgrade_keeps_the_older_columns(tmp_path: Path) -> None:
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as con:
        con.execute("SET TimeZone = 'UTC'")
        migrate(con, to=1)
        placeholders = ", ".join("?" * len(_V1_ROWS[0]))
        con.executemany(f"INSERT INTO llm_calls ({_V1_COLUMNS}) VALUES ({placeholders})", _V1_ROWS)
        migrate(con)
        assert migrate(con, to=1) == [f"down {name}" for name in reversed(NAMES[1:])]
        assert con.execute(f"SELECT {_V1_COLUMNS} FROM llm_calls ORDER BY span_id DESC").fetchall() == _V1_ROWS


# --- the schema is golden --------------------------------------------------------------------

GOLDEN_LLM_CALLS = [
    ("trace_id", "VARCHAR", "NO"),
    ("span_id", "VARCHAR", "NO"),
    ("parent_span_id", "VARCHAR", "YES"),
    ("start_time", "TIMESTAMP WITH TIME ZONE", "NO"),
    ("end_time", "TIMESTAMP WITH TIME ZONE", "NO"),
    ("span_name", "VARCHAR", "YES"),
    ("service_name", "VARCHAR", "YES"),
    ("environment", "VARCHAR", "YES"),
    ("provider", "VARCHAR", "YES"),
    ("operation", "VARCHAR", "YES"),
    ("request_model", "VARCHAR", "YES"),
    ("response_model", "VARCHAR", "YES"),
    ("priced_provider", "VARCHAR", "YES"),
    ("priced_model", "VARCHAR", "YES"),
    ("response_id", "VARCHAR", "YES"),
    ("input_tokens", "BIGINT", "YES"),
    ("cache_read_tokens", "BIGINT", "YES"),
    ("cache_write_tokens", "BIGINT", "YES"),
    ("output_tokens", "BIGINT", "YES"),
    ("reasoning_tokens", "BIGINT", "YES"),
    ("cost_usd", "DECIMAL(38,18)", "YES"),
    ("input_cost_usd", "DECIMAL(38,18)", "YES"),
    ("cache_read_cost_usd", "DECIMAL(38,18)", "YES"),
    ("cache_write_cost_usd", "DECIMAL(38,18)", "YES"),
    ("output_cost_usd", "DECIMAL(38,18)", "YES"),
    ("other_cost_usd", "DECIMAL(38,18)", "YES"),
    ("pricing_status", "VARCHAR", "NO"),
    ("pricing_detail", "VARCHAR", "YES"),
    ("price_id", "VARCHAR", "YES"),
    ("price_version", "VARCHAR", "YES"),
    ("is_duplicate", "BOOLEAN", "NO"),
    ("user_id", "VARCHAR", "YES"),
    ("conversation_id", "VARCHAR", "YES"),
    ("agent_name", "VARCHAR", "YES"),
    ("status_code", "VARCHAR", "YES"),
    ("error_type", "VARCHAR", "YES"),
    ("ingested_at", "TIMESTAMP WITH TIME ZONE", "NO"),
    ("computed_cost_usd", "DECIMAL(38,18)", "YES"),
    ("reported_cost_usd", "DECIMAL(38,18)", "YES"),
    ("cost_source", "VARCHAR", "YES"),
    ("input_excluded_cache", "BOOLEAN", "YES"),
    ("cache_write_1h_tokens", "BIGINT", "YES"),
    ("customer_id", "VARCHAR", "YES"),
    ("scope_name", "VARCHAR", "YES"),
    ("reported_cost_error", "VARCHAR", "YES"),
    ("duplicate_of_trace_id", "VARCHAR", "YES"),
    ("duplicate_of_span_id", "VARCHAR", "YES"),
    ("test_id", "VARCHAR", "YES"),
    ("attributes", "JSON", "YES"),
    ("input_audio_tokens", "BIGINT", "YES"),
    ("cache_audio_read_tokens", "BIGINT", "YES"),
    ("output_audio_tokens", "BIGINT", "YES"),
    ("input_image_tokens", "BIGINT", "YES"),
    ("cache_image_read_tokens", "BIGINT", "YES"),
    ("output_image_tokens", "BIGINT", "YES"),
    ("service_tier", "VARCHAR", "YES"),
]
GOLDEN_MODEL_PRICES = [
    ("price_id", "VARCHAR", "NO"),
    ("provider_id", "VARCHAR", "NO"),
    ("model_id", "VARCHAR", "NO"),
    ("model_name", "VARCHAR", "YES"),
    ("effective_from", "DATE", "YES"),
    ("effective_to", "DATE", "YES"),
    ("input_mtok", "DECIMAL(38,18)", "YES"),
    ("cache_read_mtok", "DECIMAL(38,18)", "YES"),
    ("cache_write_mtok", "DECIMAL(38,18)", "YES"),
    ("output_mtok", "DECIMAL(38,18)", "YES"),
    ("rates", "JSON", "NO"),
    ("price_version", "VARCHAR", "NO"),
    ("source", "VARCHAR", "NO"),
    ("first_used_at", "TIMESTAMP WITH TIME ZONE", "NO"),
    ("variant", "VARCHAR", "YES"),
    ("time_of_day", "VARCHAR", "YES"),
    ("cache_write_1h_mtok", "DECIMAL(38,18)", "YES"),
    ("input_audio_mtok", "DECIMAL(38,18)", "YES"),
    ("cache_audio_read_mtok", "DECIMAL(38,18)", "YES"),
    ("output_audio_mtok", "DECIMAL(38,18)", "YES"),
    ("input_image_mtok", "DECIMAL(38,18)", "YES"),
    ("cache_image_read_mtok", "DECIMAL(38,18)", "YES"),
    ("output_image_mtok", "DECIMAL(38,18)", "YES"),
    ("requests_kcount", "DECIMAL(38,18)", "YES"),
    ("tiers", "JSON", "YES"),
]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, str]]:
    return [
        (str(name), str(kind), str(nullable))
        for name, kind, nullable in con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


GOLDEN_AGENT_RUNS = [
    ("trace_id", "VARCHAR", "NO"),
    ("span_id", "VARCHAR", "NO"),
    ("parent_span_id", "VARCHAR", "YES"),
    ("start_time", "TIMESTAMP WITH TIME ZONE", "NO"),
    ("end_time", "TIMESTAMP WITH TIME ZONE", "NO"),
    ("span_name", "VARCHAR", "YES"),
    ("service_name", "VARCHAR", "YES"),
    ("run_kind", "VARCHAR", "YES"),
    ("agent_name", "VARCHAR", "YES"),
    ("conversation_id", "VARCHAR", "YES"),
    ("user_id", "VARCHAR", "YES"),
    ("status_code", "VARCHAR", "YES"),
    ("reported_input_tokens", "BIGINT", "YES"),
    ("reported_output_tokens", "BIGINT", "YES"),
]


# Migration 0009.
GOLDEN_PRICE_AUDIT = [
    ("run_id", "VARCHAR", "NO"),
    ("run_at", "TIMESTAMP WITH TIME ZONE", "NO"),
    ("command", "VARCHAR", "NO"),
    ("provider", "VARCHAR", "YES"),
    ("model", "VARCHAR", "YES"),
    ("calls", "BIGINT", "NO"),
    ("changed_calls", "BIGINT", "NO"),
    ("newly_priced", "BIGINT", "NO"),
    ("newly_unpriced", "BIGINT", "NO"),
    ("old_cost_usd", "DECIMAL(38,18)", "YES"),
    ("new_cost_usd", "DECIMAL(38,18)", "YES"),
    ("old_price_versions", "VARCHAR[]", "NO"),
    ("new_price_versions", "VARCHAR[]", "NO"),
]
GOLDEN_EXCHANGE_RATES = [
    ("currency", "VARCHAR", "NO"),
    ("day", "DATE", "NO"),
    ("units_per_usd", "DECIMAL(20,10)", "NO"),
    ("source", "VARCHAR", "YES"),
    ("loaded_at", "TIMESTAMP WITH TIME ZONE", "NO"),
]


def test_golden_schema() -> None:
    """A schema change must be a deliberate edit here, next to a new migration file."""
    con = duckdb.connect()
    migrate(con)
    assert _columns(con, "llm_calls") == GOLDEN_LLM_CALLS
    assert _columns(con, "model_prices") == GOLDEN_MODEL_PRICES
    assert _columns(con, "llm_agent_runs") == GOLDEN_AGENT_RUNS
    assert _columns(con, "llm_price_audit") == GOLDEN_PRICE_AUDIT
    assert _columns(con, "exchange_rates") == GOLDEN_EXCHANGE_RATES
    primary_keys = con.execute(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints()"
        " WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name"
    ).fetchall()
    assert primary_keys == [
        (MIGRATIONS_TABLE, ["name"]),
        ("exchange_rates", ["currency", "day"]),
        ("llm_agent_runs", ["trace_id", "span_id"]),
        ("llm_budget_alerts", ["budget_name", "window_start", "threshold_pct"]),
        ("llm_budgets", ["name"]),
        ("llm_calls", ["trace_id", "span_id"]),
        ("llm_ingest_health", ["process_key"]),
        ("model_price_catalogs", ["price_version"]),
        ("model_prices", ["price_id"]),
    ]


def test_design_contract_columns_exist() -> None:
    """DESIGN.md names these columns of llm_calls as a contract others rely on."""
    contract = {
        "trace_id": "VARCHAR",
        "span_id": "VARCHAR",
        "parent_span_id": "VARCHAR",
        "start_time": "TIMESTAMP WITH TIME ZONE",
        "end_time": "TIMESTAMP WITH TIME ZONE",
        "service_name": "VARCHAR",
        "provider": "VARCHAR",
        "operation": "VARCHAR",
        "request_model": "VARCHAR",
        "response_model": "VARCHAR",
        "priced_model": "VARCHAR",
        "input_tokens": "BIGINT",
        "cache_read_tokens": "BIGINT",
        "cache_write_tokens": "BIGINT",
        "output_tokens": "BIGINT",
        "reasoning_tokens": "BIGINT",
        "cost_usd": "DECIMAL(38,18)",
        # "the cost broken down by token kind"
        "input_cost_usd": "DECIMAL(38,18)",
        "cache_read_cost_usd": "DECIMAL(38,18)",
        "cache_write_cost_usd": "DECIMAL(38,18)",
        "output_cost_usd": "DECIMAL(38,18)",
        "pricing_status": "VARCHAR",
        "price_version": "VARCHAR",
        "is_duplicate": "BOOLEAN",
        "user_id": "VARCHAR",
        "conversation_id": "VARCHAR",
        "agent_name": "VARCHAR",
    }
    con = duckdb.connect()
    migrate(con)
    actual = {name: kind for name, kind, _ in _columns(con, "llm_calls")}
    assert {name: actual.get(name) for name in contract} == contract


def test_applied_and_pending_work_on_a_read_only_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "ro.duckdb")
    DuckDBStore(path).close()
    with duckdb.connect(path, read_only=True) as con:
        assert applied(con) == NAMES
        assert pending(con) == []


def test_missing_sql_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llm_cost import migrations

    monkeypatch.setattr(migrations.resources, "files", lambda package: tmp_path / "site" / package)
    monkeypatch.setattr(migrations, "__file__", str(tmp_path / "a" / "b" / "migrations.py"))
    with pytest.raises(MigrationError, match="cannot find the SQL files"):
        load_migrations()
