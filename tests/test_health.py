"""`otel-llm-cost health`: rows, last write, and the spans each writing process lost."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from click.testing import CliRunner
from conftest import StalledStore, chat_attributes
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.cli import cli
from otel_llm_cost.migrations import migrate


def test_health_shows_rows_and_the_spans_dropped_by_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    store = StalledStore(path)
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(store=store, max_queue_size=3, max_batch_size=1, flush_at_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    tracer.start_span("chat", attributes=chat_attributes()).end()
    assert store.entered.wait(10)
    for _ in range(5):  # 3 fit in the queue, 2 are dropped
        tracer.start_span("chat", attributes=chat_attributes(gen_ai__request__model="acme-1")).end()
    store.release.set()
    provider.shutdown()  # writes the final counts into llm_ingest_health, then closes the file
    store.close()

    result = CliRunner().invoke(cli, ["health", "--db", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["calls"], data["unpriced_calls"], data["duplicate_calls"], data["lost"]) == (4, 3, 0, 2)
    assert data["schema"] == "0011_budgets" and data["pending_migrations"] == []
    [writer] = data["processes"]
    assert (writer["processed"], writer["stored"], writer["dropped_queue_full"], writer["lost"]) == (4, 4, 2, 2)
    assert data["file_bytes"] > 0

    table = CliRunner().invoke(cli, ["health", "--db", str(path)])
    assert table.exit_code == 0 and "Spans lost before storage" in table.output and "75.0%" in table.output


def test_health_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["health", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "no such file" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "none.duckdb").exists()


def test_health_lists_the_slowest_logged_queries_and_logs_its_own(tmp_path: Path) -> None:
    path = str(tmp_path / "q.duckdb")
    with DuckDBStore(path) as store:
        store.con.execute(
            "INSERT INTO query_log VALUES"
            " ('2026-11-20 10:00:00+00', 'report', 'llm_daily_cost', 'aaaa', 'SELECT a', 120.5, 14, true, NULL),"
            " ('2026-11-20 11:00:00+00', 'report', 'llm_daily_cost', 'aaaa', 'SELECT a', 80.0, 14, true, NULL),"
            " ('2026-11-20 12:00:00+00', 'report', 'llm_daily_cost', 'aaaa', 'SELECT a', 100.0, 15, true, NULL),"
            " ('2026-11-20 10:30:00+00', 'export', 'llm_calls', 'bbbb', 'COPY b', 950.0, NULL, false, 'disk full'),"
            " ('2026-11-20 10:40:00+00', 'health', 'llm_calls', 'cccc', 'SELECT c', 0.5, 1, true, NULL)"
        )
        store.con.execute(
            "INSERT INTO retention_runs VALUES ('2026-11-21 03:00:00+00', 'processor', '2025-11-21 03:00:00+00',"
            " 1200, 3, 7, '/srv/archive')"
        )
    result = CliRunner().invoke(cli, ["health", "--db", path, "--format", "json", "--slowest", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(q["source"], q["name"], q["runs"], q["max_ms"], q["median_ms"], q["max_rows"], q["failed"])
            for q in data["slowest_queries"]] == [
        ("export", "llm_calls", 1, 950.0, 950.0, None, 1),
        ("report", "llm_daily_cost", 3, 120.5, 100.0, 15, 0),
    ]  # fmt: skip
    assert data["last_prune"]["calls_deleted"] == 1200 and data["last_prune"]["archive_dir"] == "/srv/archive"
    with duckdb.connect(path, read_only=True) as con:
        logged = con.execute("SELECT name, row_count, ok FROM query_log WHERE source = 'health' AND sql_hash != 'cccc'"
                             " ORDER BY name").fetchall()  # fmt: skip
    # health's own queries: the calls summary, the writers, and the agent-run and price counts.
    assert logged == [("llm_agent_runs", 1, True), ("llm_calls", 1, True), ("llm_ingest_health", 0, True),
                      ("model_prices", 1, True)]  # fmt: skip

    table = CliRunner().invoke(cli, ["health", "--db", path, "--no-query-log"])
    assert table.exit_code == 0
    assert "Slowest queries (query_log, worst run first)" in table.stdout
    assert "Last prune                 2026-11-21 03:00 UTC by processor: 1,200 calls from before" in table.stdout
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM query_log").fetchone() == (9,)  # --no-query-log added none


def test_health_of_a_database_before_the_query_log_says_so(tmp_path: Path) -> None:
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as con:
        migrate(con, to=7)
    result = CliRunner().invoke(cli, ["health", "--db", path, "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["slowest_queries"], data["last_prune"]) == ([], None)
    assert data["pending_migrations"] == [
        "0008_price_catalog",
        "0009_reprice_and_currencies",
        "0010_query_log",
        "0011_budgets",
    ]
    assert f"Note: query log not saved: {path} has no query_log table" in result.stderr
