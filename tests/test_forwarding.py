"""Forwarding: cost-enriched copies of the LLM spans (and, optionally, every other span unchanged)
reach a real OTLP receiver on 127.0.0.1, and a failing, slow or hung collector never reaches the
application or the DuckDB writes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from conftest import chat_attributes, query
from opentelemetry import context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from otlp_receiver import HANG, GRPCReceiver, HTTPReceiver, Reply, unavailable_for

from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost._enrich import with_attributes

HTTP_ATTRIBUTES = {"http.request.method": "GET", "url.full": "https://example.com/", "server.address": "example.com"}

# gpt-4o-mini, 1000 input of which 400 cached, 100 output: 600 x $0.15 + 400 x $0.075 + 100 x $0.60 per million.
PRICED_COST = {
    "gen_ai.usage.cost": 0.00018,
    "gen_ai.usage.cost.amount": 0.00018,
    "gen_ai.usage.cost.currency": "USD",
    "gen_ai.usage.cost.source": "local",
    "llm.cost.pricing_status": "priced",
    "llm.cost.input_usd": 0.00009,
    "llm.cost.cache_read_usd": 0.00003,
    "llm.cost.cache_write_usd": 0.0,
    "llm.cost.output_usd": 0.00006,
    "llm.cost.other_usd": 0.0,
    "llm.cost.priced_model": "gpt-4o-mini",
}
UNKNOWN_DETAIL = "'acme-1' is not in the price catalog (Unable to find provider with model matching 'acme-1')"


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    """A proxy in the developer's environment must not catch the 127.0.0.1 traffic."""
    with mock.patch.dict(os.environ, {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}):
        yield


def traced(db_path: str, **kwargs: Any) -> tuple[TracerProvider, LLMCostSpanProcessor]:
    provider = TracerProvider(resource=Resource.create({"service.name": "fwd-svc"}))
    processor = LLMCostSpanProcessor(db_path=db_path, flush_at_exit=False, **kwargs)
    provider.add_span_processor(processor)
    return provider, processor


def end(provider: TracerProvider, name: str, attributes: dict[str, Any], **kwargs: Any) -> None:
    provider.get_tracer("app").start_span(name, attributes=attributes, **kwargs).end()


# --- what arrives ------------------------------------------------------------------------------------


def test_llm_spans_arrive_over_otlp_http_with_exact_cost_attributes(db_path: str) -> None:
    with HTTPReceiver() as receiver:
        provider, processor = traced(db_path, forward_to=receiver.exporter())
        priced = chat_attributes(gen_ai__usage__cache_read__input_tokens=400)
        unknown = chat_attributes(gen_ai__request__model="acme-1", gen_ai__provider__name="acme")
        reported = {**unknown, "gen_ai.usage.cost.amount": 0.5}
        end(provider, "priced", priced)
        end(provider, "unknown", unknown)
        end(provider, "reported", reported)
        end(provider, "GET /", HTTP_ATTRIBUTES)  # not an LLM span, and forward_all_spans is off
        assert processor.force_flush(10_000)
        got = receiver.by_name()
        provider.shutdown()

    assert sorted(got) == ["priced", "reported", "unknown"]
    assert got["priced"].attributes == {**priced, **PRICED_COST}
    # Unpriced: the status and why, and no cost attribute at all (never a 0).
    assert got["unknown"].attributes == {
        **unknown,
        "llm.cost.pricing_status": "unknown_model",
        "llm.cost.pricing_detail": UNKNOWN_DETAIL,
    }
    # We could not price it, so the cost the span reported counts, and says it came from the provider.
    assert got["reported"].attributes == {
        **reported,
        "gen_ai.usage.cost": 0.5,
        "gen_ai.usage.cost.currency": "USD",
        "gen_ai.usage.cost.source": "provider",
        "llm.cost.pricing_status": "unknown_model",
        "llm.cost.pricing_detail": UNKNOWN_DETAIL,
        "llm.cost.reported_usd": 0.5,
    }
    assert got["priced"].resource["service.name"] == "fwd-svc"
    # The copies are the rows: same ids, same cost.
    rows = query(db_path, "SELECT span_name, span_id, cost_usd FROM llm_calls ORDER BY span_name")
    assert rows == [
        ("priced", got["priced"].span_id, Decimal("0.00018")),
        ("reported", got["reported"].span_id, Decimal("0.5")),
        ("unknown", got["unknown"].span_id, None),
    ]
    assert (processor.stats().forwarded, processor.stats().forward_failed) == (3, 0)


def test_with_forward_all_spans_other_spans_arrive_unchanged_over_grpc(db_path: str) -> None:
    """The same spans also go through the SDK's own BatchSpanProcessor to a second receiver: the
    span that is not an LLM call arrives byte for byte the same, the LLM span with only the cost
    attributes added."""
    with GRPCReceiver() as ours, GRPCReceiver() as sdks:
        provider, processor = traced(db_path, forward_to=ours.exporter(), forward_all_spans=True)
        batch = BatchSpanProcessor(sdks.exporter())
        provider.add_span_processor(batch)
        tracer = provider.get_tracer("app", "1.2")
        with tracer.start_as_current_span("GET /", kind=SpanKind.SERVER, attributes=HTTP_ATTRIBUTES) as parent:
            parent.add_event("retry", {"attempt": 2})
            parent.set_status(Status(StatusCode.ERROR, "boom"))
            tracer.start_span("chat gpt-4o-mini", attributes=chat_attributes(), kind=SpanKind.CLIENT).end()
            tracer.start_span(
                "invoke_agent a", attributes=chat_attributes(gen_ai__operation__name="invoke_agent")
            ).end()
        assert processor.force_flush(10_000) and batch.force_flush(10_000)
        mine, theirs = ours.by_name(), sdks.by_name()
        provider.shutdown()

    assert sorted(mine) == sorted(theirs) == ["GET /", "chat gpt-4o-mini", "invoke_agent a"]
    assert mine["GET /"].proto == theirs["GET /"].proto
    assert mine["GET /"].events == ("retry",) and mine["GET /"].status_code == StatusCode.ERROR.value
    assert mine["invoke_agent a"].proto == theirs["invoke_agent a"].proto  # an aggregate, not a call
    llm, plain = mine["chat gpt-4o-mini"], theirs["chat gpt-4o-mini"]
    assert llm.attributes == {**plain.attributes, **PRICED_COST, "gen_ai.usage.cost": 0.00021,
                              "gen_ai.usage.cost.amount": 0.00021, "llm.cost.input_usd": 0.00015,
                              "llm.cost.cache_read_usd": 0.0}  # fmt: skip
    del llm.proto.attributes[:], plain.proto.attributes[:]
    assert llm.proto == plain.proto  # ids, parent, times, kind, scope, status: all the original's
    assert (llm.parent_span_id, llm.scope) == (mine["GET /"].span_id, "app")
    stats = processor.stats()
    assert (stats.forwarded, stats.stored, stats.not_calls) == (3, 1, 1)


def test_a_duplicate_call_is_marked_so_backends_can_count_it_once(db_path: str) -> None:
    memory = InMemorySpanExporter()
    provider, processor = traced(db_path, forward_to=memory)
    same_call = chat_attributes(gen_ai__response__id="chatcmpl-1")
    end(provider, "first", same_call)
    end(provider, "second", same_call)
    processor.force_flush()
    got = {span.name: dict(span.attributes or {}) for span in memory.get_finished_spans()}
    provider.shutdown()
    assert "llm.cost.is_duplicate" not in got["first"]
    assert got["second"]["llm.cost.is_duplicate"] is True
    assert got["second"]["gen_ai.usage.cost"] == got["first"]["gen_ai.usage.cost"] == 0.00021


def test_the_copy_keeps_the_original_and_replaces_only_our_own_attributes() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=3))
    provider.add_span_processor(BatchSpanProcessor(memory))
    span = provider.get_tracer("app").start_span("s", attributes={"a": 1, "b": 2, "c": 3, "d": 4})
    span.add_event("e")
    span.end()
    provider.force_flush()
    [original] = memory.get_finished_spans()
    stale = with_attributes(original, {"llm.cost.pricing_status": "priced", "llm.cost.input_usd": 1.0})

    copy = with_attributes(stale, {"llm.cost.pricing_status": "unknown_model", "gen_ai.usage.cost.amount": 2.0})

    assert dict(copy.attributes or {}) == {"b": 2, "c": 3, "d": 4, "llm.cost.pricing_status": "unknown_model",
                                           "gen_ai.usage.cost.amount": 2.0}  # fmt: skip
    assert (original.dropped_attributes, copy.dropped_attributes) == (1, 1)
    assert dict(original.attributes or {}) == {"b": 2, "c": 3, "d": 4}  # untouched
    assert (copy.context, copy.events, copy.resource, copy.instrumentation_scope) == (
        original.context, original.events, original.resource, original.instrumentation_scope)  # fmt: skip
    assert (copy.start_time, copy.end_time, copy.kind, copy.status.status_code) == (
        original.start_time, original.end_time, original.kind, original.status.status_code)  # fmt: skip
    provider.shutdown()


# --- a collector that fails, stalls or hangs ---------------------------------------------------------


def test_503_for_a_while_then_200_loses_nothing_and_span_end_stays_fast(db_path: str) -> None:
    with HTTPReceiver(unavailable_for(0.6, retry_after_s=0.2)) as receiver:
        provider, processor = traced(
            db_path, forward_to=receiver.exporter(), forward_all_spans=True, schedule_delay_millis=50
        )
        slowest = 0.0
        for i in range(200):
            attributes = chat_attributes() if i % 2 else HTTP_ATTRIBUTES
            started = time.perf_counter()
            end(provider, f"span {i}", attributes)
            slowest = max(slowest, time.perf_counter() - started)
            time.sleep(0.004)  # ~0.8 s of traffic, across the whole outage
        assert processor.force_flush(10_000)
        received = receiver.wait_for(200)
        replies = list(receiver.replies)
        provider.shutdown()

    assert sorted(span.name for span in received) == sorted(f"span {i}" for i in range(200))
    assert replies[0] == Reply("error", 503, 0.2) and replies[-1].kind == "ok"
    assert sum(reply.kind == "error" for reply in replies) >= 2  # retried, more than once
    stats = processor.stats()
    assert (stats.forwarded, stats.forward_failed, stats.forward_dropped_queue_full, stats.stored) == (200, 0, 0, 100)
    assert slowest < 0.1, f"span.end() took {slowest * 1000:.1f} ms while the collector refused"


def test_grpc_unavailable_is_retried_with_backoff(db_path: str) -> None:
    """No retry hint from the server: the exporter's own backoff (1 s, 2 s, ...) within its timeout."""
    with GRPCReceiver(unavailable_for(0.5)) as receiver:
        provider, processor = traced(db_path, forward_to=receiver.exporter(), schedule_delay_millis=50)
        for i in range(10):
            end(provider, f"chat {i}", chat_attributes())
        assert processor.force_flush(15_000)
        received = receiver.wait_for(10)
        replies = list(receiver.replies)
        provider.shutdown()
    assert len({span.span_id for span in received}) == 10
    assert [reply.kind for reply in replies[:2]] == ["error", "ok"]
    assert processor.stats().forward_failed == 0


def test_a_rejected_batch_is_not_retried_and_is_counted(db_path: str) -> None:
    with HTTPReceiver(lambda _, __: Reply("error", 400)) as receiver:
        provider, processor = traced(db_path, forward_to=receiver.exporter())
        for i in range(5):
            end(provider, f"chat {i}", chat_attributes())
        processor.force_flush()
        replies = list(receiver.replies)
        provider.shutdown()
    assert replies == [Reply("error", 400)]
    stats = processor.stats()
    assert (stats.forwarded, stats.forward_failed, stats.stored) == (0, 5, 5)


@pytest.mark.parametrize("receiver_class", [HTTPReceiver, GRPCReceiver])
def test_a_hung_collector_blocks_neither_duckdb_nor_shutdown(
    db_path: str, receiver_class: type[HTTPReceiver | GRPCReceiver]
) -> None:
    with receiver_class(lambda _, __: HANG) as receiver:
        provider, processor = traced(db_path, forward_to=receiver.exporter(), schedule_delay_millis=50)
        for i in range(20):
            end(provider, f"chat {i}", chat_attributes())
        deadline = time.monotonic() + 10
        while (processor.stats().stored < 20 or not receiver.replies) and time.monotonic() < deadline:
            time.sleep(0.01)
        # The collector holds the first batch; the rows are in DuckDB regardless.
        assert (processor.stats().stored, len(receiver.replies)) == (20, 1)
        started = time.monotonic()
        processor.shutdown(timeout_millis=1000)
        elapsed = time.monotonic() - started
        provider.shutdown()
    assert elapsed < 2.0, f"shutdown took {elapsed:.2f} s with a 1 s timeout"
    assert query(db_path, "SELECT count(*) FROM llm_calls") == [(20,)]
    assert processor.stats().forwarded == 0


def test_a_full_forward_queue_drops_and_counts(db_path: str) -> None:
    memory = InMemorySpanExporter()
    provider, processor = traced(
        db_path, forward_to=memory, forward_all_spans=True, max_queue_size=20, schedule_delay_millis=3_600_000
    )
    for i in range(50):
        end(provider, f"GET {i}", HTTP_ATTRIBUTES)
    stats = processor.stats()
    assert (stats.forward_queued, stats.forward_dropped_queue_full) == (20, 30)
    assert processor.force_flush()
    assert [span.name for span in memory.get_finished_spans()] == [f"GET {i}" for i in range(20)]
    assert (processor.stats().forwarded, processor.stats().dropped) == (20, 0)  # dropped: LLM spans only
    provider.shutdown()


class RecordingExporter(SpanExporter):
    def __init__(self) -> None:
        self.seen: list[tuple[bool, object]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.seen.append((is_instrumentation_enabled(), context.get_value("suppress_instrumentation")))
        return SpanExportResult.SUCCESS


def test_exporting_runs_with_instrumentation_suppressed(db_path: str) -> None:
    recording = RecordingExporter()
    provider, processor = traced(db_path, forward_to=recording, forward_all_spans=True)
    end(provider, "chat", chat_attributes())
    end(provider, "GET /", HTTP_ATTRIBUTES)
    processor.force_flush()
    provider.shutdown()
    assert recording.seen == [(False, True)]
    assert is_instrumentation_enabled()  # only inside the export


def test_non_llm_spans_are_not_touched_when_forwarding_everything_is_off(db_path: str) -> None:
    memory = InMemorySpanExporter()
    provider, processor = traced(db_path, forward_to=memory)
    assert "on_end" not in vars(processor)  # the class's on_end: one set test for other spans
    end(provider, "GET /", HTTP_ATTRIBUTES)
    processor.force_flush()
    assert (memory.get_finished_spans(), processor.stats().processed) == ((), 0)
    provider.shutdown()


# --- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "receiver_class", "exporter_class"),
    [
        ({"OTEL_LLM_COST_FORWARD": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, HTTPReceiver,
         HTTPSpanExporter),
        ({"OTEL_LLM_COST_FORWARD": "OTLP_HTTP"}, HTTPReceiver, HTTPSpanExporter),
        # The Python SDK's rule for OTEL_TRACES_EXPORTER=otlp: gRPC unless a protocol says otherwise.
        ({"OTEL_LLM_COST_FORWARD": "otlp", "OTEL_EXPORTER_OTLP_INSECURE": "true"}, GRPCReceiver, GRPCSpanExporter),
        ({"OTEL_LLM_COST_FORWARD": "otlp_grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
          "OTEL_EXPORTER_OTLP_INSECURE": "true"}, GRPCReceiver, GRPCSpanExporter),
    ],
)  # fmt: skip
def test_otlp_forwarding_from_the_standard_variables(
    db_path: str, env: dict[str, str], receiver_class: type[HTTPReceiver | GRPCReceiver], exporter_class: type
) -> None:
    with receiver_class() as receiver:
        with mock.patch.dict(os.environ, {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}):
            provider, processor = traced(db_path)
        assert processor.forwarder is not None and type(processor.forwarder.exporter) is exporter_class
        end(provider, "chat", chat_attributes())
        assert processor.force_flush(10_000)
        [span] = receiver.wait_for(1)
        provider.shutdown()
    assert span.attributes["gen_ai.usage.cost"] == 0.00021


def test_forward_to_accepts_a_name(db_path: str) -> None:
    with HTTPReceiver() as receiver:
        with mock.patch.dict(os.environ, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.endpoint}/v1/traces"}):
            provider, processor = traced(db_path, forward_to="otlp_http")
        end(provider, "chat", chat_attributes())
        processor.force_flush()
        assert [span.name for span in receiver.wait_for(1)] == ["chat"]
        provider.shutdown()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"forward_to": "kafka"}, "forward_to must be a SpanExporter or one of otlp, otlp_http, otlp_grpc, "
                                  "otlp_proto_http, otlp_proto_grpc, console, none; got 'kafka'"),
        ({"forward_to": 3}, "forward_to must be a SpanExporter or a name, got 3"),
        ({"forward_all_spans": True}, "forward_all_spans needs somewhere to forward to: pass forward_to"),
        ({"forward_all_spans": "yes", "forward_to": "none"}, "forward_all_spans must be True or False, got 'yes'"),
    ],
)  # fmt: skip
def test_bad_forwarding_arguments_fail_at_configuration_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        LLMCostSpanProcessor(flush_at_exit=False, **kwargs)


@pytest.mark.parametrize(
    ("env", "warning"),
    [
        ({"OTEL_LLM_COST_FORWARD": "kafka"},
         "ignoring OTEL_LLM_COST_FORWARD='kafka': not one of otlp, otlp_http, otlp_grpc, otlp_proto_http, "
         "otlp_proto_grpc, console, none"),
        ({"OTEL_LLM_COST_FORWARD_ALL_SPANS": "true"},
         "ignoring OTEL_LLM_COST_FORWARD_ALL_SPANS: nothing to forward to"),
        ({"OTEL_LLM_COST_FORWARD_ALL_SPANS": "1", "OTEL_LLM_COST_FORWARD": "none"},
         "ignoring OTEL_LLM_COST_FORWARD_ALL_SPANS='1': not true or false"),
    ],
)  # fmt: skip
def test_bad_forwarding_environment_is_logged_and_ignored(
    env: dict[str, str], warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with mock.patch.dict(os.environ, env):
        processor = LLMCostSpanProcessor(flush_at_exit=False)
    processor.shutdown()
    assert processor.forwarder is None and "on_end" not in vars(processor)
    assert [r.getMessage() for r in caplog.records] == [warning]


def test_an_unsupported_otlp_protocol_falls_back_to_grpc(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    env = {"OTEL_LLM_COST_FORWARD": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
    with mock.patch.dict(os.environ, env):
        processor = LLMCostSpanProcessor(flush_at_exit=False)
    processor.shutdown()
    assert processor.forwarder is not None and type(processor.forwarder.exporter) is GRPCSpanExporter
    assert [r.getMessage() for r in caplog.records] == [
        "forwarding over OTLP/gRPC: Unsupported OTLP protocol 'http/json' is configured"
    ]


# --- examples ----------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_forward_to_collector(tmp_path: Path) -> None:
    with HTTPReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_LLM_COST_DB": str(tmp_path / "x.duckdb")})
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / "forward_to_collector.py")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        got = receiver.by_name()
        metric_names = set(receiver.metric_names)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "forwarded 3 spans (0 failed); stored 2 LLM calls\n"
    assert sorted(got) == ["POST /checkout", "chat claude-haiku-4-5", "chat gpt-4o-mini"]
    assert "gen_ai.usage.cost" not in got["POST /checkout"].attributes
    # 2,000 in + 400 out: gpt-4o-mini at $0.15/$0.60, claude-haiku-4-5 at $1/$5 per million.
    assert got["chat gpt-4o-mini"].attributes["gen_ai.usage.cost"] == 0.00054
    assert got["chat claude-haiku-4-5"].attributes["gen_ai.usage.cost"] == 0.004
    assert {"gen_ai.usage.cost", "otel_llm_cost.calls", "otel_llm_cost.exported"} <= metric_names


def test_example_collector_config_takes_otlp_and_prints_it() -> None:
    text = (EXAMPLES / "otel-collector.yaml").read_text()
    for line in ("endpoint: 0.0.0.0:4317", "endpoint: 0.0.0.0:4318", "verbosity: detailed", "endpoint: 0.0.0.0:8889"):
        assert line in text
    pipelines = text.split("pipelines:", 1)[1]
    pipeline = "\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [debug{}]"
    assert "traces:" + pipeline.format("") in pipelines
    assert "metrics:" + pipeline.format(", prometheus") in pipelines
