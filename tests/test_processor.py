"""LLMCostSpanProcessor end to end through the real OTel SDK: rows, counts, and never raising."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import StalledStore, chat_attributes, lock_held_by_another_process, query
from opentelemetry import baggage, context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from otel_llm_cost import LLMCostSpanProcessor

Traced = tuple[TracerProvider, LLMCostSpanProcessor]


def end_span(provider: TracerProvider, name: str = "chat gpt-4o-mini", **attributes: object) -> None:
    provider.get_tracer("t").start_span(name, attributes=attributes).end()  # type: ignore[arg-type]


def test_an_llm_span_becomes_one_priced_row(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    end_span(provider, **chat_attributes(gen_ai__usage__cache_read__input_tokens=400, user__id="u1"))
    end_span(provider, "GET /health", **{"http.request.method": "GET"})
    end_span(provider, "invoke_agent support", **chat_attributes(gen_ai__operation__name="invoke_agent"))
    assert processor.force_flush(10_000)
    rows = query(db_path, "SELECT service_name, request_model, input_tokens, cache_read_tokens, output_tokens, "
                          "cost_usd, pricing_status, user_id, is_duplicate FROM llm_calls")  # fmt: skip
    # gpt-4o-mini: 600 uncached x $0.15 + 400 cached x $0.075 + 100 out x $0.60, per million
    assert rows == [("test-svc", "gpt-4o-mini", 1000, 400, 100, Decimal("0.00018"), "priced", "u1", False)]
    stats = processor.stats()
    assert (stats.processed, stats.stored, stats.not_calls, stats.dropped) == (2, 1, 1, 0)
    prices = query(db_path, "SELECT model_id, input_mtok, output_mtok FROM model_prices"
                            " WHERE price_id IN (SELECT price_id FROM llm_calls)")  # fmt: skip
    assert prices == [("gpt-4o-mini", Decimal("0.15"), Decimal("0.6"))]


def test_unknown_model_row_has_null_cost_and_a_reason(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    end_span(provider, **chat_attributes(gen_ai__request__model="acme-llm-2", gen_ai__provider__name="acme"))
    processor.force_flush()
    [(cost, status, detail)] = query(db_path, "SELECT cost_usd, pricing_status, pricing_detail FROM llm_calls")
    assert (cost, status) == (None, "unknown_model") and "acme-llm-2" in detail
    assert processor.stats().unpriced == 1


def test_unsampled_spans_are_ignored(db_path: str) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    processor = LLMCostSpanProcessor(db_path=db_path, flush_at_exit=False)
    provider.add_span_processor(processor)
    end_span(provider, **chat_attributes())
    provider.shutdown()
    assert processor.stats().processed == 0
    assert not Path(db_path).exists()  # the file is opened lazily, by the first LLM span


def test_the_same_span_twice_is_stored_once(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    span = provider.get_tracer("t").start_span("chat", attributes=chat_attributes())
    span.end()
    processor.on_end(span)  # an OTLP retry or a replay delivers it again  # type: ignore[arg-type]
    processor.force_flush()
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(1,)]
    assert (processor.stats().stored, processor.stats().already_stored) == (1, 1)


def test_many_threads_lose_nothing(traced: Traced, db_path: str) -> None:
    provider, processor = traced

    def work() -> None:
        for _ in range(500):
            end_span(provider, **chat_attributes())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    processor.force_flush()
    assert query(db_path, "SELECT count(*), sum(cost_usd) FROM llm_calls") == [
        (2000, Decimal("0.42"))
    ]  # 2000 x $0.00021


def test_a_model_name_with_sql_in_it_is_stored_verbatim(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    model = "x'); DROP TABLE llm_calls; --"
    end_span(provider, **chat_attributes(gen_ai__request__model=model))
    processor.force_flush()
    assert query(db_path, "SELECT request_model, pricing_status FROM llm_calls") == [(model, "unknown_model")]


@pytest.mark.parametrize("bad", [-1, "many", 1.5, float("nan"), 10**15])
def test_bad_token_counts_are_stored_unpriced(traced: Traced, db_path: str, bad: object) -> None:
    provider, processor = traced
    end_span(provider, **chat_attributes(gen_ai__usage__output_tokens=bad))
    processor.force_flush()
    [(output, cost, status, detail)] = query(
        db_path, "SELECT output_tokens, cost_usd, pricing_status, pricing_detail FROM llm_calls"
    )
    assert (output, cost, status) == (None, None, "invalid_usage")
    assert detail.startswith("gen_ai.usage.output_tokens: ")


def test_a_missing_model_is_stored_unpriced(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    end_span(provider, **chat_attributes(gen_ai__request__model=None))
    processor.force_flush()
    assert query(db_path, "SELECT cost_usd, pricing_status FROM llm_calls") == [(None, "no_model")]


# --- the database is not usable: span.end() still returns, the error is logged once, drops counted -----


def _assert_dropped_with_one_error(
    provider: TracerProvider, processor: LLMCostSpanProcessor, caplog: pytest.LogCaptureFixture, fragment: str
) -> None:
    caplog.set_level(logging.ERROR, logger="otel_llm_cost")
    for _ in range(3):
        end_span(provider, **chat_attributes())  # must not raise
        processor.force_flush()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert fragment in errors[0].getMessage()
    stats = processor.stats()
    assert (stats.store_failed, stats.stored, stats.dropped) == (3, 0, 3)


def test_missing_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=tmp_path / "nope" / "x.duckdb", flush_at_exit=False)
    provider.add_span_processor(processor)
    _assert_dropped_with_one_error(provider, processor, caplog, "does not exist")
    provider.shutdown()


def test_unwritable_location(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A regular file where the folder should be: fails even for root, unlike chmod.
    (tmp_path / "file").write_text("")
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=tmp_path / "file" / "x.duckdb", flush_at_exit=False)
    provider.add_span_processor(processor)
    _assert_dropped_with_one_error(provider, processor, caplog, "cannot open DuckDB file")
    provider.shutdown()


def test_file_locked_by_another_process_then_released(db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    with lock_held_by_another_process(db_path):
        provider = TracerProvider()
        processor = LLMCostSpanProcessor(db_path=db_path, flush_at_exit=False)
        provider.add_span_processor(processor)
        _assert_dropped_with_one_error(provider, processor, caplog, "locked by another process")
    # The lock is gone: the next batch reopens the file and storing resumes.
    end_span(provider, **chat_attributes())
    processor.force_flush()
    assert (processor.stats().stored, processor.stats().store_failed) == (1, 3)
    provider.shutdown()
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(1,)]


# --- a stalled worker: bounded queue, counted drops, timeouts honoured ------------------------------


def test_full_queue_drops_and_counts_without_blocking() -> None:
    store = StalledStore()
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(store=store, max_queue_size=5, max_batch_size=1, flush_at_exit=False)
    provider.add_span_processor(processor)
    end_span(provider, **chat_attributes())
    assert store.entered.wait(10)  # the worker holds span 1 inside the stalled write
    for _ in range(8):
        end_span(provider, **chat_attributes())  # 5 fit in the queue, 3 are dropped
    stats = processor.stats()
    assert (stats.queued, stats.dropped_queue_full, stats.processed) == (5, 3, 1)
    assert processor.force_flush(100) is False  # honours its timeout while the disk is stalled
    store.release.set()
    assert processor.force_flush(10_000) is True
    stats = processor.stats()
    # Every span ended is accounted for: stored + dropped.
    assert (stats.stored, stats.dropped, stats.queued) == (6, 3, 0)
    assert store.con.execute("SELECT count(*) FROM llm_calls").fetchone() == (6,)
    provider.shutdown()


def test_shutdown_honours_its_timeout() -> None:
    store = StalledStore()
    processor = LLMCostSpanProcessor(store=store, max_batch_size=1, flush_at_exit=False)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    end_span(provider, **chat_attributes())
    assert store.entered.wait(10)
    started = time.monotonic()
    processor.shutdown(timeout_millis=200)
    assert time.monotonic() - started < 5  # not the 30 s the stalled write would take
    store.release.set()


# --- forwarding failures never reach the application ------------------------------------------------


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise RuntimeError("collector is down")

    def shutdown(self) -> None:
        pass


def test_a_raising_forward_exporter_does_not_stop_storage(db_path: str) -> None:
    forward = RaisingExporter()
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=db_path, forward_to=forward, flush_at_exit=False)
    provider.add_span_processor(processor)
    end_span(provider, **chat_attributes())
    processor.force_flush()
    assert (forward.calls, processor.stats().forward_failed, processor.stats().stored) == (1, 1, 1)
    provider.shutdown()


# --- configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_queue_size": 0}, "max_queue_size must be a positive integer, got 0"),
        ({"max_batch_size": "10"}, "max_batch_size must be a positive integer, got '10'"),
        ({"schedule_delay_millis": -1}, "schedule_delay_millis must be a positive integer, got -1"),
        ({"db_path": "a.duckdb", "store": "x"}, "pass either db_path or store, not both"),
    ],
)
def test_bad_arguments_fail_at_configuration_time(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        LLMCostSpanProcessor(**kwargs)  # type: ignore[arg-type]


# --- interpreter exit -------------------------------------------------------------------------------

EXIT_SCRIPT = """
import sys, threading
from opentelemetry.sdk.trace import TracerProvider
from otel_llm_cost import LLMCostSpanProcessor
provider = TracerProvider(shutdown_on_exit=False)  # only our own atexit hook may save the spans
provider.add_span_processor(LLMCostSpanProcessor(db_path=sys.argv[1], schedule_delay_millis=60_000))
tracer = provider.get_tracer("exit")
attrs = {{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
         "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}}
def worker():
    for _ in range(100):
        tracer.start_span("chat", attributes=attrs).end()
    sys.exit(0)  # SystemExit in a thread ends only that thread
t = threading.Thread(target=worker); t.start(); t.join()
for _ in range(150):
    tracer.start_span("chat", attributes=attrs).end()
{ending}
"""


@pytest.mark.parametrize("ending", ["", "sys.exit(0)", "raise SystemExit(3)"])
def test_normal_exit_flushes_everything(db_path: str, ending: str) -> None:
    script = textwrap.dedent(EXIT_SCRIPT.format(ending=ending))
    subprocess.run([sys.executable, "-c", script, db_path], check=False, timeout=60)
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(250,)]


def test_baggage_names_the_user_session_and_customer(traced: Traced, db_path: str) -> None:
    provider, processor = traced
    ctx = baggage.set_baggage("user.id", "u-from-baggage")
    ctx = baggage.set_baggage("session.id", "s-9", ctx)
    ctx = baggage.set_baggage("customer.id", "acme", ctx)
    token = context.attach(ctx)
    try:
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("chat", attributes=chat_attributes()):
            pass
        # the span's own attribute wins over baggage
        with tracer.start_as_current_span("chat", attributes=chat_attributes(user__id="u-attr")):
            pass
    finally:
        context.detach(token)
    processor.force_flush()
    rows = query(db_path, "SELECT user_id, conversation_id, customer_id FROM llm_calls ORDER BY user_id")
    assert rows == [("u-attr", "s-9", "acme"), ("u-from-baggage", "s-9", "acme")]
