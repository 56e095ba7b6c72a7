"""Exit paths: what reaches the database when the process ends, and how long shutdown may take.

- A normal exit and ``sys.exit`` (also from threads): everything flushed (test_processor.py, and
  daemon threads below).
- SIGTERM with Python's default handler kills the process without running ``atexit``: the processor
  installs no handler of its own (it never overrides the application's), so what was queued is
  lost, as with ``os._exit`` (Celery prefork) and ``kill -9``. What was committed is intact and the
  file opens cleanly.
- SIGTERM with a handler that calls ``sys.exit``: a normal exit, everything flushed.
- ``shutdown(timeout_millis)`` with the file locked by another process or a collector that hangs:
  it returns within its timeout plus 1 s.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import pytest
from conftest import chat_attributes, lock_held_by_another_process, query
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor

# Commits 100 spans, queues 50 more (the worker sleeps for a minute), then says "ready" and waits.
SCRIPT = """
import os, signal, sys, threading, time
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import LLMCostSpanProcessor
HANDLER = sys.argv[2]
if HANDLER == "sys.exit":
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
provider = TracerProvider(shutdown_on_exit=False)  # only our own atexit hook may save the spans
processor = LLMCostSpanProcessor(db_path=sys.argv[1], schedule_delay_millis=60_000)
provider.add_span_processor(processor)
if HANDLER == "default":
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the processor installs no handler
tracer = provider.get_tracer("exit")
attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
         "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}
for _ in range(100):
    tracer.start_span("chat", attributes=attrs).end()
assert processor.force_flush()
for _ in range(50):
    tracer.start_span("chat", attributes=attrs).end()
if HANDLER == "os._exit":
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize(("handler", "rows"), [("default", 100), ("sys.exit", 150), ("os._exit", 100)])
def test_sigterm_and_os_exit(db_path: str, handler: str, rows: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, db_path, handler], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        if handler != "os._exit":
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    finally:
        child.kill()
        _, stderr = child.communicate(timeout=30)
    expected_code = -signal.SIGTERM if handler == "default" else 0
    assert child.returncode == expected_code, stderr
    # The committed rows are all there (and only those, without a flush), and the file opens cleanly.
    with DuckDBStore(db_path) as store:
        assert store.con.execute("SELECT count(*), count(DISTINCT span_id) FROM llm_calls").fetchone() == (rows, rows)


DAEMON_THREADS_SCRIPT = """
import sys, threading
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import LLMCostSpanProcessor
provider = TracerProvider(shutdown_on_exit=False)
provider.add_span_processor(LLMCostSpanProcessor(db_path=sys.argv[1], schedule_delay_millis=60_000))
tracer = provider.get_tracer("exit")
attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
         "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}
done = threading.Barrier(9)
def worker():
    for _ in range(100):
        tracer.start_span("chat", attributes=attrs).end()
    done.wait()
    threading.Event().wait()  # a daemon thread still alive at exit
for _ in range(8):
    threading.Thread(target=worker, daemon=True).start()
done.wait()
sys.exit(0)
"""


def test_sys_exit_with_daemon_threads_still_running_flushes_everything(db_path: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", DAEMON_THREADS_SCRIPT, db_path], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(800,)]


def test_shutdown_with_the_file_locked_ends_within_its_timeout(db_path: str) -> None:
    with lock_held_by_another_process(db_path):
        provider = TracerProvider()
        processor = LLMCostSpanProcessor(db_path=db_path, flush_at_exit=False, schedule_delay_millis=60_000)
        provider.add_span_processor(processor)
        for _ in range(200):
            provider.get_tracer("t").start_span("chat", attributes=chat_attributes()).end()
        started = time.monotonic()
        processor.shutdown(timeout_millis=1000)
        assert time.monotonic() - started < 2.0
        stats = processor.stats()
        assert (stats.store_failed, stats.stored, stats.queued) == (200, 0, 0)


class HangingExporter(SpanExporter):
    """A collector that never answers (until the test ends)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(60)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_shutdown_with_a_hanging_collector_ends_within_its_timeout(db_path: str) -> None:
    collector = HangingExporter()
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=db_path, forward_to=collector, flush_at_exit=False)
    provider.add_span_processor(processor)
    try:
        for _ in range(100):
            provider.get_tracer("t").start_span("chat", attributes=chat_attributes()).end()
        processor.force_flush(0)
        assert collector.entered.wait(10)  # the forward worker is stuck in the collector
        for _ in range(100):
            provider.get_tracer("t").start_span("chat", attributes=chat_attributes()).end()
        started = time.monotonic()
        processor.shutdown(timeout_millis=1000)
        assert time.monotonic() - started < 2.0
        # The database did not wait for the collector: every span is stored.
        assert processor.stats().stored == 200
        assert query(db_path, "SELECT count(*) FROM llm_calls") == [(200,)]
    finally:
        collector.release.set()
