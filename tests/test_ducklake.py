"""DuckLakeStore on a real PostgreSQL server: offline extensions, schema, idempotent writes, the same
views as a DuckDB file, the processor's ``store=`` spec, and ``otel-llm-cost ducklake maintain``."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from postgres_server import PostgresServer
from test_store import VIEWS, cost, plan, record

from otel_llm_cost import LLMCostSpanProcessor, _lake_extensions
from otel_llm_cost._lake_schema import STATE_TABLE
from otel_llm_cost.cli import cli
from otel_llm_cost.demo import run_demo
from otel_llm_cost.ducklake import _PG, LOCK_KEY, DuckLakeStore, redacted
from otel_llm_cost.migrations import MIGRATIONS_TABLE, MigrationError, applied, load_migrations
from otel_llm_cost.store import DuckDBStore, StoreUnavailable
from otel_llm_cost.stores import check_spec, open_store

T_DEMO_NS = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC: the demo's window ends here


def count(store: DuckLakeStore | DuckDBStore, sql: str = "SELECT count(*) FROM llm_calls") -> Any:
    row = store.con.execute(sql).fetchone()
    assert row is not None
    return row[0]


# --- extensions --------------------------------------------------------------------------------


def test_extensions_come_from_the_wheels_and_nothing_loads_implicitly(lake: tuple[str, str], tmp_path: Path) -> None:
    with open_store(str(tmp_path / "x.duckdb")) as file:
        assert isinstance(file, DuckDBStore)
    with open_store(lake[0], data_path=lake[1]) as store:
        assert isinstance(store, DuckLakeStore)
        loaded = dict(
            store.con.execute(
                "SELECT extension_name, extension_version FROM duckdb_extensions() WHERE loaded"
            ).fetchall()
        )
        assert {"ducklake", "postgres_scanner"} <= set(loaded)
        for setting in ("autoinstall_known_extensions", "autoload_known_extensions"):
            assert count(store, f"SELECT current_setting('{setting}')") is False
    assert _lake_extensions.extension_file("ducklake").parts[-2] == f"v{duckdb.__version__}"


def test_a_duckdb_other_than_the_wheels_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lake_extensions, "duckdb_version", lambda: "v1.5.6")
    with pytest.raises(StoreUnavailable) as caught:
        DuckLakeStore("ducklake:postgres:dbname=x host=127.0.0.1 port=1")
    assert str(caught.value) == (
        "duckdb-extension-postgres is built for duckdb 1.5.5, but duckdb 1.5.6 is installed: "
        "pip install 'otel-llm-cost[lake]' installs matching versions"
    )


def test_a_missing_extension_wheel_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StoreUnavailable, match=r"^the DuckDB nosuch extension is not installed: pip install"):
        _lake_extensions.extension_file("nosuch")


# --- schema ------------------------------------------------------------------------------------


def test_new_lake_gets_the_tables_views_and_migrations_without_keys(lake: tuple[str, str]) -> None:
    with DuckLakeStore(lake[0], data_path=lake[1]) as store:
        tables = [
            r[0]
            for r in store.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' ORDER BY 1"
            ).fetchall()
        ]
        with DuckDBStore(":memory:") as reference:  # every table a DuckDB file has, plus the lake's state
            sql = "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory' ORDER BY 1"
            file_tables = [r[0] for r in reference.con.execute(sql).fetchall()]
        assert tables == sorted([STATE_TABLE, *file_tables])
        assert "llm_calls" in tables and "model_prices" in tables
        views = [
            r[0]
            for r in store.con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
        ]
        assert views == VIEWS
        assert applied(store.con) == [m.name for m in load_migrations()]
        # Same columns, types, NOT NULL and defaults as a DuckDB file, in the same order.
        columns = "SELECT table_name, column_name, data_type, is_nullable, nullif(column_default, 'NULL')"
        columns += " FROM duckdb_columns()"
        where = " WHERE table_name IN ('llm_calls', 'model_prices', 'llm_agent_runs', 'llm_ingest_health') ORDER BY ALL"
        in_lake = store.con.execute(columns + where).fetchall()
    with DuckDBStore(":memory:") as reference:
        assert in_lake == reference.con.execute(columns + where).fetchall()


def test_reopening_a_current_lake_changes_nothing(lake: tuple[str, str]) -> None:
    DuckLakeStore(lake[0], data_path=lake[1]).close()
    with DuckLakeStore(lake[0]) as store:  # the catalog remembers the data path
        snapshots = count(store, "SELECT count(*) FROM lake.snapshots()")
        assert count(store, f"SELECT commits FROM {STATE_TABLE}") == 1  # one fenced schema transaction
    with DuckLakeStore(lake[0], read_only=True) as store:
        assert count(store, "SELECT count(*) FROM lake.snapshots()") == snapshots
        with pytest.raises(duckdb.Error):
            store.write_batch([(record(), cost())])


def test_a_lake_from_a_newer_version_is_refused(lake: tuple[str, str]) -> None:
    with DuckLakeStore(lake[0], data_path=lake[1]) as store:
        store.con.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, number) VALUES ('9999_future', 9999)")
    with pytest.raises(MigrationError) as caught:
        DuckLakeStore(lake[0])
    assert "the lake has migrations this version does not know: 9999_future" in str(caught.value)


# --- writes ------------------------------------------------------------------------------------


def test_writes_are_idempotent_and_money_exact(lake: tuple[str, str]) -> None:
    rows = [(record(span_id=f"{i:016x}"), cost(Decimal("0.000000000000000001") * (i + 1))) for i in range(300)]
    with DuckLakeStore(lake[0], data_path=lake[1]) as store:
        assert store.write_batch(rows, [plan()]) == 300
        assert store.write_batch(rows, [plan()]) == 0  # a replayed batch
        # A batch repeating a span, and one new span among stored ones.
        again = [*rows[:3], (record(span_id="f" * 16), cost()), (record(span_id="f" * 16), cost())]
        assert store.write_batch(again) == 1
        assert count(store) == 301
        assert count(store, "SELECT count(DISTINCT (trace_id, span_id)) FROM llm_calls") == 301
        assert count(store, "SELECT count(*) FROM model_prices") == 1
        assert count(store, "SELECT sum(cost_usd) FROM llm_calls WHERE span_id <> 'ffffffffffffffff'") == Decimal(
            "0.000000000000045150"
        )
        assert count(store, "SELECT typeof(cost_usd) FROM llm_calls LIMIT 1") == "DECIMAL(38,18)"
        unpriced = (record(span_id="e" * 16, request_model="mystery"), cost(None))
        assert store.write_batch([unpriced]) == 1
        assert count(
            store, "SELECT cost_usd IS NULL AND NOT is_duplicate FROM llm_calls WHERE span_id = 'eeeeeeeeeeeeeeee'"
        )
        assert count(store, f"SELECT commits FROM {STATE_TABLE}") == 5  # schema + 4 writes, each fenced


def test_replays_are_found_by_start_time_to_the_nanosecond(lake: tuple[str, str]) -> None:
    """The anti-join reads only rows within the batch's start times; DuckDB keeps microseconds."""
    early = (record(span_id="a" * 16, start_time_ns=1_740_823_200_000_000_999), cost())
    late = (record(span_id="b" * 16, start_time_ns=1_740_823_260_000_000_001), cost())
    with DuckLakeStore(lake[0], data_path=lake[1]) as store:
        assert store.write_batch([early, late]) == 2
        assert store.write_batch([early]) == 0
        assert store.write_batch([late]) == 0
        assert store.write_batch([late, (record(span_id="c" * 16), cost())]) == 1
        assert count(store) == 3


def test_health_rows_are_replaced_per_process(lake: tuple[str, str]) -> None:
    counters = dict.fromkeys(
        ("processed", "stored", "already_stored", "dropped_queue_full", "store_failed", "malformed",
         "forward_failed", "forward_dropped_queue_full"), 0
    )  # fmt: skip
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with DuckLakeStore(lake[0], data_path=lake[1]) as store:
        for stored in (1, 2, 3):
            store.record_health(
                {"process_key": "h:1:0", "host": "h", "pid": 1, "started_at": now, "updated_at": now, **counters,
                 "stored": stored}
            )  # fmt: skip
        assert store.con.execute("SELECT process_key, stored FROM llm_ingest_health").fetchall() == [("h:1:0", 3)]


def test_views_give_the_same_numbers_as_a_duckdb_file(lake: tuple[str, str], tmp_path: Path) -> None:
    """The demo's workload (caching, reasoning, agents, duplicates, unpriced calls) into both stores."""
    in_lake = LLMCostSpanProcessor(store=lake[0], data_path=lake[1], flush_at_exit=False, metrics=False)
    db = str(tmp_path / "file.duckdb")
    result = run_demo(db, calls=400, seed=11, now_ns=T_DEMO_NS, span_processors=[in_lake])
    in_lake.shutdown()
    assert in_lake.stats().stored == result.stored == 400
    with DuckDBStore(db, read_only=True) as file, DuckLakeStore(lake[0], read_only=True) as store:
        # A lake holds the rates that priced its calls, not the whole catalog a file loads.
        # llm_month_to_date is its macro at now(): both are asked at the demo's instant instead.
        at_demo = f"llm_month_to_date_at(make_timestamptz({T_DEMO_NS // 1000}))"
        for view in (v for v in VIEWS if v != "model_prices_current"):
            source = at_demo if view == "llm_month_to_date" else view
            expected = file.con.execute(f"SELECT * FROM {source} ORDER BY ALL").fetchall()
            assert store.con.execute(f"SELECT * FROM {source} ORDER BY ALL").fetchall() == expected, view
            assert expected or view in ("llm_cost_by_test", "budget_status"), view  # no tests, no budgets
        total = "SELECT sum(cost_usd), count(*) FILTER (WHERE is_duplicate) FROM llm_calls"
        assert store.con.execute(total).fetchall() == file.con.execute(total).fetchall()
    # The report and health commands read the lake as they read the file.
    runner = CliRunner()
    from_file = runner.invoke(cli, ["report", "--db", db, "--format", "json", "--days", "30"])
    from_lake = runner.invoke(cli, ["report", "--store", lake[0], "--format", "json", "--days", "30"])
    assert from_file.exit_code == from_lake.exit_code == 0, from_lake.output
    file_report, lake_report = json.loads(from_file.output), json.loads(from_lake.output)
    assert lake_report.pop("db_path") == lake[0] and file_report.pop("db_path") == db
    assert lake_report == file_report
    checked = runner.invoke(cli, ["health", "--store", lake[0], "--format", "json"])
    assert checked.exit_code == 0, checked.output
    lake_health = json.loads(checked.output)
    assert (lake_health["path"], lake_health["calls"], lake_health["schema"]) == (
        lake[0],
        400,
        load_migrations()[-1].name,
    )
    assert lake_health["processes"][0]["stored"] == 400  # the lake processor's health row


# --- specs and errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "data_path", "message"),
    [
        ("ducklake:sqlite:x.db", None, "unsupported store 'ducklake:sqlite:x.db': a DuckLake store is "
         "ducklake:postgres:<dsn>, e.g. 'ducklake:postgres:dbname=llm_cost host=127.0.0.1'"),
        ("ducklake:postgres:", None, "unsupported store 'ducklake:postgres:'"),
        ("file.duckdb", "/data", "data_path is for a ducklake:postgres: store; a DuckDB file keeps its data inside"),
    ],
)  # fmt: skip
def test_bad_specs_fail_at_configuration_time(spec: str, data_path: str | None, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_spec(spec, data_path)
    with pytest.raises(ValueError):
        LLMCostSpanProcessor(store=spec, data_path=data_path, flush_at_exit=False)


def test_unreachable_postgres_is_one_line_without_the_password(postgres: PostgresServer) -> None:
    spec = f"ducklake:postgres:dbname=nosuch host=127.0.0.1 port={postgres.port} user=postgres password=hunter2"
    with pytest.raises(StoreUnavailable) as caught:
        DuckLakeStore(spec)
    assert str(caught.value) == (
        f"cannot open DuckLake 'ducklake:postgres:dbname=nosuch host=127.0.0.1 port={postgres.port} user=postgres "
        f'password=***\': PostgreSQL connection to server at "127.0.0.1", port {postgres.port} failed: '
        'database "nosuch" does not exist'
    )
    assert "hunter2" not in str(caught.value)


def test_redacted_hides_passwords_in_both_dsn_forms() -> None:
    assert redacted("ducklake:postgres:host=h password='a b' user=u") == "ducklake:postgres:host=h password=*** user=u"
    assert redacted("ducklake:postgres:postgresql://me:s3cret@h/db") == "ducklake:postgres:postgresql://me:***@h/db"


def test_processor_writes_to_the_lake_and_counts_like_a_file(lake: tuple[str, str]) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "lake-svc"}))
    processor = LLMCostSpanProcessor(store=lake[0], data_path=lake[1], flush_at_exit=False, metrics=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for _ in range(3):
        with tracer.start_as_current_span("chat", attributes=_chat()):
            pass
    assert processor.force_flush(30_000)
    provider.shutdown()
    assert processor.stats().stored == 3
    with DuckLakeStore(lake[0], read_only=True) as store:
        assert (
            store.con.execute("SELECT service_name, cost_usd FROM llm_calls").fetchall()
            == [("lake-svc", Decimal("0.000210000000000000"))] * 3
        )
        assert count(store, "SELECT stored FROM llm_ingest_health") == 3  # written at shutdown


def _chat() -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
    }


# --- maintenance -------------------------------------------------------------------------------


def test_maintain_dry_run_then_for_real(lake: tuple[str, str]) -> None:
    with DuckLakeStore(lake[0], data_path=lake[1]) as store:
        for batch in range(4):
            store.write_batch([(record(span_id=f"{batch:04x}{i:012x}"), cost()) for i in range(20)])
        files = count(store, "SELECT count(*) FROM ducklake_list_files('lake', 'llm_calls')")
        assert files == 4
    runner = CliRunner()
    dry = runner.invoke(cli, ["ducklake", "maintain", "--store", lake[0], "--keep-days", "0", "--dry-run",
                              "--format", "json"])  # fmt: skip
    assert dry.exit_code == 0, dry.output
    steps = {s["name"]: s for s in json.loads(dry.output)["steps"]}
    assert [s["ran"] for s in steps.values()] == [False, False, False, True, True, True]
    assert steps["ducklake_expire_snapshots"]["count"] >= 5  # all but the newest snapshot
    with DuckLakeStore(lake[0]) as store:
        assert count(store, "SELECT count(*) FROM ducklake_list_files('lake', 'llm_calls')") == 4  # untouched
    real = runner.invoke(cli, ["ducklake", "maintain", "--store", lake[0], "--keep-days", "0", "--format", "json"])
    assert real.exit_code == 0, real.output
    steps = {s["name"]: s for s in json.loads(real.output)["steps"]}
    assert steps["ducklake_merge_adjacent_files"]["count"] == 4
    assert steps["ducklake_cleanup_old_files"]["count"] == 4  # the merged-away files, once expired
    with DuckLakeStore(lake[0]) as store:
        assert count(store, "SELECT count(*) FROM ducklake_list_files('lake', 'llm_calls')") == 1
        assert count(store) == 80
        assert sorted(p.name for p in Path(lake[1], "main", "llm_calls").iterdir()) == [
            Path(count(store, "SELECT data_file FROM ducklake_list_files('lake', 'llm_calls')")).name
        ]


def test_maintain_needs_a_lake_and_reports_failures_in_one_line(postgres: PostgresServer) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["ducklake", "maintain", "--store", "llm-cost.duckdb"])
    assert bad.exit_code == 2
    assert "Error: Invalid value for --store: expected ducklake:postgres:<dsn>" in bad.output
    spec = f"ducklake:postgres:dbname=nosuch port={postgres.port} host=127.0.0.1 user=postgres"
    gone = runner.invoke(cli, ["ducklake", "maintain", "--store", spec])
    assert gone.exit_code == 1
    assert gone.output.startswith("Error: cannot open DuckLake 'ducklake:postgres:dbname=nosuch")
    assert gone.output.count("\n") == 1


# --- many writers in one host ------------------------------------------------------------------


def test_writers_take_turns_through_the_advisory_lock(lake: tuple[str, str]) -> None:
    with DuckLakeStore(lake[0], data_path=lake[1]) as first, DuckLakeStore(lake[0]) as second:
        assert second._lock_con is not None
        probe = f"SELECT * FROM postgres_query('{_PG}', 'SELECT pg_try_advisory_lock({LOCK_KEY})')"
        with first._turn():
            assert second._lock_con.execute(probe).fetchone() == (False,)
        assert second._lock_con.execute(probe).fetchone() == (True,)  # released when the turn ends
        second._lock_con.execute(f"SELECT * FROM postgres_query('{_PG}', 'SELECT pg_advisory_unlock({LOCK_KEY})')")


def test_a_forked_child_writes_through_a_connection_of_its_own(lake: tuple[str, str]) -> None:
    """gunicorn --preload: the parent's lake connection stays the parent's, the child opens its own."""
    provider = TracerProvider(resource=Resource.create({"service.name": "forked"}))
    processor = LLMCostSpanProcessor(store=lake[0], data_path=lake[1], flush_at_exit=False, metrics=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")

    def call(span_id_hint: str) -> None:
        with tracer.start_as_current_span(span_id_hint, attributes=_chat()):
            pass

    call("parent-before")
    assert processor.force_flush(30_000)  # the parent's store is open from here on
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        ok = False
        try:
            call("child-1")
            call("child-2")
            ok = processor.force_flush(30_000) and processor.stats().stored == 2
            processor.shutdown()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    call("parent-after")  # the child neither closed nor used the parent's PostgreSQL sessions
    assert processor.force_flush(30_000)
    provider.shutdown()
    assert processor.stats().stored == 2
    with DuckLakeStore(lake[0], read_only=True) as store:
        names = store.con.execute("SELECT span_name FROM llm_calls ORDER BY span_name").fetchall()
    assert names == [("child-1",), ("child-2",), ("parent-after",), ("parent-before",)]
