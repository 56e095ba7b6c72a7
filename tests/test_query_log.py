"""The query log: what a command's queries record, and how a read-only command saves them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import lock_held_by_another_process

from otel_llm_cost import DuckDBStore
from otel_llm_cost.query_log import QueryLog, slowest


def test_queries_are_timed_with_their_row_counts_and_failures_are_recorded_then_raised() -> None:
    with DuckDBStore(":memory:") as store:
        log = QueryLog("report")
        assert log.fetch(store.con, "SELECT * FROM range(?)", [3]) == [(0,), (1,), (2,)]
        connection = log.connection(store.con)
        assert connection.execute("SELECT count(*) FROM llm_calls").fetchone() == (0,)
        with pytest.raises(duckdb.CatalogException):
            log.fetch(store.con, "SELECT *\n  FROM no_such_view", name="no_such_view")
        assert [(e.source, e.name, e.row_count, e.ok) for e in log.entries] == [
            ("report", "range", 3, True),
            ("report", "llm_calls", 1, True),
            ("report", "no_such_view", None, False),
        ]
        failed = log.entries[2]
        assert failed.sql_text == "SELECT * FROM no_such_view"  # one line
        assert failed.error is not None and failed.error.startswith("Catalog Error: Table with name no_such_view")
        assert all(e.duration_ms > 0 and len(e.sql_hash) == 16 for e in log.entries)
        assert log.save(store.con) == 3 and log.entries == []
        listed = {(q["source"], q["name"], q["runs"], q["max_rows"], q["failed"]) for q in slowest(store.con, 10)}
        assert listed == {("report", "range", 1, 3, 0), ("report", "llm_calls", 1, 1, 0),
                          ("report", "no_such_view", 1, None, 1)}  # fmt: skip
        assert len(slowest(store.con, 2)) == 2


def test_off_means_the_same_results_and_nothing_kept() -> None:
    con = duckdb.connect()
    log = QueryLog("export", enabled=False)
    assert log.fetch(con, "SELECT 42") == [(42,)]
    assert log.copy(con, "COPY (SELECT 1) TO '/dev/null' (FORMAT csv)") == 1
    assert log.entries == []


def test_saving_to_a_file_another_process_holds_gives_the_reason(tmp_path: Path) -> None:
    path = str(tmp_path / "held.duckdb")
    DuckDBStore(path).close()
    log = QueryLog("health")
    log.fetch(duckdb.connect(), "SELECT 1")
    with lock_held_by_another_process(path):
        note = log.save_to_file(path)
    assert note is not None and note.startswith(f"query log not saved: cannot open {path} for writing (")
    assert len(log.entries) == 1  # kept, not lost: the caller may try again
    assert log.save_to_file(path) is None
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute("SELECT source, sql_text, row_count FROM query_log").fetchall()
    assert rows == [("health", "SELECT 1", 1)]


def test_report_records_each_of_its_queries_unless_told_not_to(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from otel_llm_cost.cli import cli

    path = str(tmp_path / "costs.duckdb")
    DuckDBStore(path).close()
    runner = CliRunner()
    assert runner.invoke(cli, ["report", "--db", path, "--format", "json"]).exit_code == 0
    with duckdb.connect(path, read_only=True) as con:
        logged = con.execute("SELECT count(*), count(DISTINCT source), bool_and(ok) FROM query_log").fetchone()
    assert logged == (9, 1, True)  # the overview's 9 queries (the view check included), all from "report"
    assert runner.invoke(cli, ["report", "--db", path, "--by", "model", "--no-query-log"]).exit_code == 0
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM query_log").fetchone() == (9,)
