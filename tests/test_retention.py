"""Retention: `otel-llm-cost prune` and the processor's retention_days, archive read back, one transaction."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import duckdb
import pytest
from click.testing import CliRunner
from conftest import chat_attributes, lock_held_by_another_process
from cost_rows import COSTS, add_call, add_run, day
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor, retention
from otel_llm_cost._upkeep import RetentionSchedule, Upkeep
from otel_llm_cost.cli import cli

# Calls on 2026-11-01 .. 2026-11-06, span n on day n; agent runs on days 1, 3 and 5.
DAYS = range(1, 7)


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "cost.duckdb")
    with DuckDBStore(path) as store:
        for n in DAYS:
            add_call(store.con, n, day(2026, 11, n), COSTS[n % 4], trace=n)
        for n in (1, 3, 5):
            add_run(store.con, 100 + n, day(2026, 11, n, 11), trace=n)
        store.con.execute(
            "INSERT INTO query_log VALUES (?, 'report', 'llm_daily_cost', 'h', 'SELECT 1', 5.0, 1, true, NULL),"
            " (?, 'report', 'llm_daily_cost', 'h', 'SELECT 1', 7.0, 1, true, NULL)",
            [day(2026, 11, 2), day(2026, 11, 5)],
        )
        store.con.execute("INSERT INTO llm_ingest_health VALUES ('h:1:0', 'h', 1, ?, ?, 6, 6, 0, 0, 0, 0, 0, 0)",
                          [day(2026, 11, 1), day(2026, 11, 1)])  # fmt: skip
    return path


def count(path: str, sql: str) -> object:
    with duckdb.connect(path, read_only=True) as con:
        row = con.execute(sql).fetchone()
        return row[0] if row else None


def prune(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["prune", *args])
    return result.exit_code, result.stdout, result.stderr


def archived(
    folder: Path, table: str = "llm_calls", columns: str = "span_id, day, cost_usd"
) -> list[tuple[object, ...]]:
    files = f"{folder}/{table}/*/*.parquet"
    sql = f"SELECT {columns} FROM read_parquet('{files}', hive_partitioning = true) ORDER BY span_id"
    return duckdb.connect().execute(sql).fetchall()


def test_prune_archives_verifies_then_deletes_what_started_before_the_cutoff(db: str, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    code, out, err = prune("--db", db, "--older-than", "2026-11-04", "--archive", str(archive))
    assert code == 0, err
    assert out == (
        "Removed 3 calls, 2 agent runs and 1 query-log rows that date from before 2026-11-04 00:00 UTC;"
        f" archived in 5 files under {archive}.\n"
    )
    assert count(db, "SELECT list(span_id ORDER BY span_id) FROM llm_calls") == [f"{n:016x}" for n in (4, 5, 6)]
    assert count(db, "SELECT list(span_id ORDER BY span_id) FROM llm_agent_runs") == [f"{105:016x}"]
    assert count(db, "SELECT count(*) FROM query_log") == 1
    assert count(db, "SELECT count(*) FROM llm_ingest_health") == 1  # the record of lost spans stays
    assert archived(archive) == [(f"{n:016x}", date(2026, 11, n), COSTS[n % 4]) for n in (1, 2, 3)]
    assert [r[0] for r in archived(archive, "llm_agent_runs", "span_id, day")] == [f"{101:016x}", f"{103:016x}"]
    assert sorted(p.name for p in (archive / "llm_calls").iterdir()) == ["day=2026-11-01", "day=2026-11-02",
                                                                         "day=2026-11-03"]  # fmt: skip
    with duckdb.connect(db, read_only=True) as con:
        runs = con.execute("SELECT source, cutoff, calls_deleted, agent_runs_deleted, query_log_deleted, archive_dir"
                           " FROM retention_runs").fetchall()  # fmt: skip
    assert runs == [("prune", day(2026, 11, 4, 0), 3, 2, 1, str(archive.resolve()))]

    # A later prune adds its files beside the first one's: the archive is still one table, each row once.
    code, _, err = prune("--db", db, "--older-than", "2026-11-06", "--archive", str(archive))
    assert code == 0, err
    assert archived(archive) == [(f"{n:016x}", date(2026, 11, n), COSTS[n % 4]) for n in range(1, 6)]
    assert count(db, "SELECT count(*) FROM llm_calls") == 1
    assert count(db, "SELECT count(*) FROM retention_runs") == 2
    assert Decimal("12345678901234567890.123456789012345678") in [r[2] for r in archived(archive)]


def test_the_default_archive_is_beside_the_database(db: str, tmp_path: Path) -> None:
    code, out, _ = prune("--db", db, "--older-than", "2026-11-02")
    assert code == 0 and "archived in 2 files under " in out
    assert [r[0] for r in archived(tmp_path / "cost-archive")] == [f"{1:016x}"]


def test_dry_run_counts_and_changes_nothing(db: str, tmp_path: Path) -> None:
    code, out, _ = prune("--db", db, "--older-than", "2026-11-04", "--dry-run")
    assert code == 0
    assert out == (
        "Would remove 3 calls, 2 agent runs and 1 query-log rows that date from before 2026-11-04 00:00 UTC"
        f" (archived to {tmp_path / 'cost-archive'}).\n"
    )
    assert count(db, "SELECT count(*) FROM llm_calls") == 6
    assert count(db, "SELECT count(*) FROM retention_runs") == 0
    assert not (tmp_path / "cost-archive").exists()


def test_no_archive_deletes_without_files(db: str, tmp_path: Path) -> None:
    code, out, _ = prune("--db", db, "--older-than", "3d", "--no-archive")
    assert code == 0 and out.startswith("Removed 6 calls, 3 agent runs and 2 query-log rows that date from before ")
    assert count(db, "SELECT count(*) FROM llm_calls") == 0
    assert count(db, "SELECT archive_dir FROM retention_runs") is None
    assert not (tmp_path / "cost-archive").exists()


def test_an_archive_that_does_not_verify_deletes_nothing_and_leaves_no_files(db: str, tmp_path: Path) -> None:
    real_count = retention._count

    def one_more_call(con: duckdb.DuckDBPyConnection, table: str, column: str, cutoff: datetime) -> int:
        return real_count(con, table, column, cutoff) + (table == "llm_calls")

    with mock.patch.object(retention, "_count", one_more_call):
        code, _, err = prune("--db", db, "--older-than", "2026-11-04", "--archive", str(tmp_path / "a"))
    assert code == 1
    assert err.endswith("\nError: nothing was deleted: the archive of llm_calls holds 3 rows, not 4\n")
    assert count(db, "SELECT count(*) FROM llm_calls") == 6
    assert list((tmp_path / "a").rglob("*.parquet")) == []


def test_a_failure_after_archiving_rolls_back_and_removes_this_runs_files(db: str, tmp_path: Path) -> None:
    archive = tmp_path / "a"
    assert prune("--db", db, "--older-than", "2026-11-02", "--archive", str(archive))[0] == 0
    kept = sorted(archive.rglob("*.parquet"))
    real_delete = retention._delete

    def failing(con: duckdb.DuckDBPyConnection, table: str, column: str, cutoff: datetime) -> int:
        if table == "llm_agent_runs":
            raise duckdb.IOException("disk full")
        return real_delete(con, table, column, cutoff)

    with mock.patch.object(retention, "_delete", failing):
        code, _, err = prune("--db", db, "--older-than", "2026-11-05", "--archive", str(archive))
    assert code == 1 and err.endswith("...\nError: nothing was deleted: disk full\n")
    assert count(db, "SELECT count(*) FROM llm_calls") == 5  # the first prune's deletion only
    assert sorted(archive.rglob("*.parquet")) == kept


def test_a_database_in_use_is_a_clear_error(db: str) -> None:
    with lock_held_by_another_process(db):
        code, _, err = prune("--db", db, "--older-than", "1d")
    assert code == 1 and "it is locked by another process" in err and "Traceback" not in err


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_the_schedule_prunes_at_most_once_a_day_also_across_restarts(db: str, tmp_path: Path) -> None:
    clock = Clock(day(2026, 11, 6, 9))
    schedule = RetentionSchedule(days=3, archive_dir=tmp_path / "a", clock=clock)
    with DuckDBStore(db) as store:
        first = schedule.run(store.con)
        assert first is not None and (first.calls, first.cutoff) == (2, day(2026, 11, 3, 9))
        clock.now += timedelta(hours=10)  # the same UTC day: nothing, without asking the database
        assert schedule.checked_today() and schedule.run(store.con) is None
        restarted = RetentionSchedule(days=3, archive_dir=tmp_path / "a", clock=clock)
        assert restarted.run(store.con) is None  # retention_runs says it ran today
        clock.now += timedelta(hours=6)  # 2026-11-07 01:00: the next day
        assert not schedule.checked_today()
        second = schedule.run(store.con)
        assert second is not None and second.calls == 1  # day 3's call (12:00 < 11-04 01:00)
        assert store.con.execute("SELECT count(*), list(source) FROM retention_runs").fetchone() == (
            2, ["processor", "processor"],
        )  # fmt: skip


def test_the_processor_prunes_on_its_worker_with_retention_days(db: str, tmp_path: Path) -> None:
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=db, retention_days=1, flush_at_exit=False, schedule_delay_millis=50)
    provider.add_span_processor(processor)
    # A call ended now: the worker's store is open, with a row, when retention opens its connection.
    provider.get_tracer("t").start_span("chat", attributes=chat_attributes()).end()
    assert processor.force_flush(10_000)
    provider.shutdown()
    assert count(db, "SELECT count(*) FROM llm_calls") == 1  # the new call; all of 2026-11-01..06 went
    assert processor.stats().stored == 1
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT source, calls_deleted FROM retention_runs").fetchall() == [("processor", 6)]
    assert len(archived(tmp_path / "cost-archive")) == 6


def test_retention_options_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="retention_days must be a positive integer, got 0"):
        LLMCostSpanProcessor(db_path=":memory:", retention_days=0, flush_at_exit=False)
    with pytest.raises(ValueError, match="retention of an in-memory database needs retention_archive_dir"):
        LLMCostSpanProcessor(store=DuckDBStore(":memory:"), retention_days=30, flush_at_exit=False)


def test_retention_from_the_environment(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {"OTEL_LLM_COST_RETENTION_DAYS": "30", "OTEL_LLM_COST_RETENTION_ARCHIVE_DIR": str(tmp_path / "arch")}
    with mock.patch.dict("os.environ", env):
        processor = LLMCostSpanProcessor(db_path=str(tmp_path / "a.duckdb"), flush_at_exit=False)
        processor.shutdown()
    assert processor._upkeep is not None and processor._upkeep.retention is not None
    assert (processor._upkeep.retention.days, processor._upkeep.retention.archive_dir) == (30, tmp_path / "arch")
    with mock.patch.dict("os.environ", {"OTEL_LLM_COST_RETENTION_DAYS": "a year"}):
        processor = LLMCostSpanProcessor(db_path=str(tmp_path / "a.duckdb"), flush_at_exit=False)
        processor.shutdown()
    assert processor._upkeep is None
    assert "ignoring OTEL_LLM_COST_RETENTION_DAYS='a year': not a positive integer; keeping every row" in caplog.text


def test_a_retention_that_cannot_open_the_database_logs_once_a_day(
    db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(day(2026, 11, 6, 9))
    upkeep = Upkeep.configure(str(tmp_path / "missing" / "x.duckdb"), None, None, 3, None)
    assert upkeep is not None and upkeep.retention is not None
    upkeep.retention.clock = clock
    for _ in range(3):
        upkeep.after_drain()
    assert caplog.text.count("retention failed; the rows are kept, and it is tried again tomorrow") == 1
    clock.now += timedelta(days=1)
    upkeep.after_drain()
    assert caplog.text.count("retention failed") == 2
