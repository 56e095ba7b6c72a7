"""Storage faults: a full disk, a read-only file system, a corrupt or foreign file, a newer schema.

Each fault: one clear error in the log (naming the file), the spans counted as dropped, the
application never sees an exception, and writing resumes once the fault clears. A file that is not
ours is never overwritten. (A file locked by another process: test_processor.py.)
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pytest
from conftest import chat_attributes, query
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.conventions import AgentRun, CallRecord
from otel_llm_cost.migrations import MIGRATIONS_TABLE
from otel_llm_cost.pricing import Cost, RatePlan


def end_spans(provider: TracerProvider, count: int, **overrides: object) -> None:
    tracer = provider.get_tracer("faults")
    for _ in range(count):
        tracer.start_span("chat", attributes=chat_attributes(**overrides)).end()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def assert_identity(processor: LLMCostSpanProcessor, ended: int) -> None:
    stats = processor.stats()
    assert stats.queued == 0
    assert stats.stored + stats.dropped == ended == stats.processed, stats


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def test_disk_full_then_space_again(tmpfs: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = str(tmpfs / "llm-cost.duckdb")
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=db, flush_at_exit=False, schedule_delay_millis=60_000)
    provider.add_span_processor(processor)
    ended = 0
    for _ in range(60):  # 500 wide rows per round: the 2 MB fill up within a few rounds
        end_spans(provider, 500, user__id="u" * 300)
        ended += 500
        processor.force_flush()
        if processor.stats().store_failed:
            break
    assert processor.stats().store_failed > 0, "the disk never filled up"
    for _ in range(2):  # more batches: stored or not (the failed one's space is freed), no second error
        end_spans(provider, 100, user__id="u" * 300)
        ended += 100
        processor.force_flush()
    assert len(errors(caplog)) == 1, errors(caplog)
    assert "No space left on device" in errors(caplog)[0] and db in errors(caplog)[0]
    stored_before = processor.stats().stored

    remount(tmpfs, "size=64m")
    end_spans(provider, 200)
    ended += 200
    processor.force_flush()
    assert processor.stats().stored == stored_before + 200  # resumed on the same connection
    assert_identity(processor, ended)
    provider.shutdown()
    assert query(db, "SELECT count(*) FROM llm_calls") == [(stored_before + 200,)]


def test_a_process_that_dies_on_a_full_disk_leaves_an_openable_file(tmpfs: Path) -> None:
    db = str(tmpfs / "llm-cost.duckdb")
    script = f"""
import os
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import LLMCostSpanProcessor
attrs = {chat_attributes(user__id="u" * 300)!r}
provider = TracerProvider(shutdown_on_exit=False)
processor = LLMCostSpanProcessor(db_path={db!r}, flush_at_exit=False)
provider.add_span_processor(processor)
for _ in range(60):
    for _ in range(500):
        provider.get_tracer("t").start_span("chat", attributes=attrs).end()
    processor.force_flush()
    if processor.stats().store_failed:
        break
print(processor.stats().stored, flush=True)
os._exit(0)  # dies with a torn write at the end of the WAL
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    stored = int(result.stdout.split()[-1])
    remount(tmpfs, "size=64m")
    with DuckDBStore(db) as store:  # opens, replays the WAL up to its last commit, migrates
        assert store.con.execute("SELECT count(*) FROM llm_calls").fetchone() == (stored,)


def test_read_only_file_system_then_writable(tmpfs: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = str(tmpfs / "llm-cost.duckdb")
    DuckDBStore(db).close()
    remount(tmpfs, "ro")
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=db, flush_at_exit=False)
    provider.add_span_processor(processor)
    for _ in range(3):
        end_spans(provider, 10)
        processor.force_flush()
    assert len(errors(caplog)) == 1, errors(caplog)
    assert f"cannot open DuckDB file {db!r}" in errors(caplog)[0]
    assert processor.stats().store_failed == 30
    remount(tmpfs, "rw")
    end_spans(provider, 10)
    processor.force_flush()
    assert_identity(processor, 40)
    provider.shutdown()
    assert query(db, "SELECT count(*) FROM llm_calls") == [(10,)]


class FailingStore(DuckDBStore):
    """A store whose writes raise ``error`` while it is set: an injected I/O fault."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.error: Exception | None = None

    def write_batch(
        self, rows: Sequence[tuple[CallRecord, Cost]], plans: Sequence[RatePlan] = (), runs: Sequence[AgentRun] = ()
    ) -> int:
        if self.error is not None:
            raise self.error
        return super().write_batch(rows, plans, runs)


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        duckdb.IOException('Could not write file "llm-cost.duckdb.wal": No space left on device'),
    ],
)
def test_injected_write_errors_are_logged_once_counted_and_recovered(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    store = FailingStore()
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(store=store, flush_at_exit=False)
    provider.add_span_processor(processor)
    end_spans(provider, 5)
    processor.force_flush()
    store.error = error
    for _ in range(4):
        end_spans(provider, 5)  # never raises into the application
        processor.force_flush()
    assert len(errors(caplog)) == 1 and "No space left on device" in errors(caplog)[0], errors(caplog)
    assert (processor.stats().stored, processor.stats().store_failed) == (5, 20)
    store.error = None
    end_spans(provider, 5)
    processor.force_flush()
    assert_identity(processor, 30)
    assert store.con.execute("SELECT count(*) FROM llm_calls").fetchone() == (10,)
    provider.shutdown()


def _run_against(db: str, caplog: pytest.LogCaptureFixture) -> tuple[LLMCostSpanProcessor, list[str]]:
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=db, flush_at_exit=False)
    provider.add_span_processor(processor)
    for _ in range(3):
        end_spans(provider, 2)
        processor.force_flush()
    provider.shutdown()
    assert_identity(processor, 6)
    assert processor.stats().store_failed == 6
    return processor, errors(caplog)


def test_a_corrupt_file_is_named_and_never_overwritten(db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    garbage = os.urandom(64 * 1024)
    Path(db_path).write_bytes(garbage)
    _, logged = _run_against(db_path, caplog)
    assert len(logged) == 1 and f"cannot open DuckDB file {db_path!r}" in logged[0], logged
    assert "not a valid DuckDB database file" in logged[0]
    assert Path(db_path).read_bytes() == garbage


def test_a_foreign_llm_calls_table_is_named_and_never_touched(db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    with duckdb.connect(db_path) as con:
        con.execute("CREATE TABLE llm_calls (id INTEGER, prompt VARCHAR)")
        con.execute("INSERT INTO llm_calls VALUES (1, 'theirs')")
    _, logged = _run_against(db_path, caplog)
    assert len(logged) == 1, logged
    assert f"cannot use DuckDB file {db_path!r}" in logged[0] and "llm_calls" in logged[0]
    with duckdb.connect(db_path) as con:
        assert con.execute("SELECT * FROM llm_calls").fetchall() == [(1, "theirs")]
        assert con.execute(f"SELECT count(*) FROM {MIGRATIONS_TABLE}").fetchone() == (0,)  # rolled back


def test_a_newer_schema_is_refused_with_a_message(db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    with DuckDBStore(db_path) as store:
        store.con.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, number) VALUES ('9999_from_the_future', 9999)")
        before = store.con.execute("SELECT count(*) FROM llm_calls").fetchone()
    _, logged = _run_against(db_path, caplog)
    assert len(logged) == 1, logged
    assert f"cannot use DuckDB file {db_path!r}" in logged[0]
    assert "9999_from_the_future; it was written by a newer otel-llm-cost" in logged[0]
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [before]
