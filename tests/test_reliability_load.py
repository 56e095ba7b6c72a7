"""Crash, overload and concurrency: spans ended = stored rows + counted drops, always.

- kill -9 mid-stream (spans at about 2k/s): the file opens cleanly, holds every batch committed
  before the kill, and the loss is at most ``max_queue_size + max_batch_size`` spans (the queue
  plus the batch being written), as the README says.
- A stalled worker (a disk that does not answer) while 20k spans end on 8 threads: the queue holds
  at most ``max_queue_size`` spans (plus one per thread racing on its last slot), the rest are
  dropped and counted, in ``stats()`` and in the ``otel_llm_cost.dropped`` metric.
- 16 threads ending spans at once: exact row counts and exact Decimal cost totals.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

from conftest import StalledStore, chat_attributes, query
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import DuckDBStore, LLMCostSpanProcessor
from otel_llm_cost.metrics import DROPPED

QUEUE, BATCH = 2048, 512

CRASH_SCRIPT = f"""
import sys, time
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import LLMCostSpanProcessor
provider = TracerProvider(shutdown_on_exit=False)
processor = LLMCostSpanProcessor(db_path=sys.argv[1], schedule_delay_millis=200, max_queue_size={QUEUE},
                                 max_batch_size={BATCH})
provider.add_span_processor(processor)
tracer = provider.get_tracer("crash")
attrs = {chat_attributes()!r}
ended, start = 0, time.monotonic()
for chunk in range(60):  # 6000 spans at 2000/s, 100 every 50 ms
    for _ in range(100):
        tracer.start_span("chat", attributes=attrs).end()
    ended += 100
    stats = processor.stats()
    print(ended, stats.stored, stats.dropped, flush=True)
    time.sleep(max(0.0, start + ended / 2000 - time.monotonic()))
"""


def test_kill_9_mid_stream_loses_at_most_the_queue_and_one_batch(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.duckdb")
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        ended = stored_seen = 0
        while ended < 3000:  # mid-stream: about 1.5 s in, with several batches committed
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "no output"
            ended, stored_seen, dropped = map(int, line.split())
            assert dropped == 0
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # At most one more chunk of 100 ended between the last line read and the kill.
    ended_at_most = ended + 100
    with DuckDBStore(db) as store:  # opens cleanly: WAL replayed, migrations fine
        rows, distinct, total = store.con.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)), sum(cost_usd) FROM llm_calls"
        ).fetchone() or (0, 0, None)
    assert stored_seen > 0, "nothing was committed before the kill: the test proves nothing"
    assert rows >= stored_seen  # every batch committed before the kill
    assert rows == distinct and total == rows * Decimal("0.00021")
    assert ended_at_most - rows <= QUEUE + BATCH  # the documented bound


def test_a_stalled_worker_bounds_the_queue_and_counts_every_drop() -> None:
    threads_count, per_thread, max_queue = 8, 2500, 1000
    store = StalledStore()
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(
        store=store, max_queue_size=max_queue, max_batch_size=100, flush_at_exit=False, meter_provider=meters
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("overload")
    try:
        tracer.start_span("chat", attributes=chat_attributes()).end()
        processor.force_flush(0)
        assert store.entered.wait(10)  # the worker holds one span in the stalled write
        highest = [0]

        def work() -> None:
            for _ in range(per_thread):
                tracer.start_span("chat", attributes=chat_attributes()).end()
                highest[0] = max(highest[0], processor.stats().queued)

        threads = [threading.Thread(target=work) for _ in range(threads_count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        ended = 1 + threads_count * per_thread
        stats = processor.stats()
        # Bounded memory: on_end's length check and append are two steps, so threads racing for
        # the last slot can each add one span.
        assert max_queue <= stats.queued <= max_queue + threads_count
        assert highest[0] <= max_queue + threads_count
        assert stats.processed + stats.queued + stats.dropped_queue_full == ended
        assert stats.dropped_queue_full == ended - stats.processed - stats.queued > 0
        # ...and visible in the health metrics.
        assert _dropped_metric(reader) == stats.dropped_queue_full

        store.release.set()
        assert processor.force_flush(30_000)
        stats = processor.stats()
        assert stats.stored + stats.dropped == ended
        assert store.con.execute("SELECT count(*) FROM llm_calls").fetchone() == (stats.stored,)
    finally:
        store.release.set()
        provider.shutdown()
        meters.shutdown()


def _dropped_metric(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == DROPPED:
                    for point in metric.data.data_points:
                        if dict(point.attributes or {}).get("otel_llm_cost.queue") == "price":
                            return int(point.value)
    raise AssertionError(f"no {DROPPED} metric for the price queue")


def _end_per_thread(provider: TracerProvider, thread: int, count: int) -> None:
    tracer = provider.get_tracer("concurrency")
    attributes = chat_attributes(
        gen_ai__usage__input_tokens=1000 + 37 * thread,
        gen_ai__usage__output_tokens=100 + thread,
        user__id=f"t{thread:02d}",
    )
    for _ in range(count):
        tracer.start_span("chat", attributes=attributes).end()


def test_16_threads_at_once_give_exact_counts_and_costs(tmp_path: Path) -> None:
    threads_count, per_thread = 16, 400
    totals = "SELECT user_id, count(*), count(DISTINCT span_id), sum(cost_usd) FROM llm_calls GROUP BY ALL ORDER BY 1"

    concurrent_db = str(tmp_path / "concurrent.duckdb")
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=concurrent_db, flush_at_exit=False, max_batch_size=256)
    provider.add_span_processor(processor)
    start = threading.Barrier(threads_count)

    def work(thread: int) -> None:
        start.wait()
        _end_per_thread(provider, thread, per_thread)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    provider.shutdown()
    stats = processor.stats()
    assert (stats.stored, stats.dropped, stats.processed) == (threads_count * per_thread, 0, threads_count * per_thread)

    # The same spans, one thread: the reference totals.
    sequential_db = str(tmp_path / "sequential.duckdb")
    reference = TracerProvider()
    reference.add_span_processor(LLMCostSpanProcessor(db_path=sequential_db, flush_at_exit=False))
    for n in range(threads_count):
        _end_per_thread(reference, n, per_thread)
    reference.shutdown()

    expected = query(sequential_db, totals)
    assert len(expected) == threads_count and all(row[1] == row[2] == per_thread for row in expected)
    assert query(concurrent_db, totals) == expected
    grand_total = query(concurrent_db, "SELECT sum(cost_usd) FROM llm_calls")[0][0]
    assert grand_total == sum((row[3] for row in expected), Decimal(0)) > 0
