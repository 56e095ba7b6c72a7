"""The demo workload: every call span becomes exactly one row, aggregates never do, and re-runs add nothing."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import query
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm_cost import attributes as a
from otel_llm_cost.demo import SERVICES, DemoResult, SeededIdGenerator, run_demo

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
NOW_NS = int(NOW.timestamp()) * 10**9
CALLS = 400
SEED = 3  # a seed whose 400 calls include every feature (checked in test_the_workload_has_every_feature)


def ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, DemoResult, list[ReadableSpan]]:
    path = str(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    exporter = InMemorySpanExporter()
    result = run_demo(path, calls=CALLS, seed=SEED, now_ns=NOW_NS, span_processors=[SimpleSpanProcessor(exporter)])
    return path, result, list(exporter.get_finished_spans())


def test_every_call_span_is_exactly_one_row(demo: tuple[str, DemoResult, list[ReadableSpan]]) -> None:
    path, result, spans = demo
    call_spans = [s for s in spans if (s.attributes or {}).get(a.GEN_AI_OPERATION_NAME) in a.CALL_OPERATIONS]
    rows = query(path, "SELECT trace_id, span_id FROM llm_calls")
    assert (result.calls, result.stored, result.already_present, result.dropped) == (CALLS, CALLS, 0, 0)
    assert len(rows) == len(call_spans) == CALLS
    assert set(rows) == {ids(s) for s in call_spans} == set(result.call_span_ids)


def test_agent_tool_and_http_spans_are_not_calls(demo: tuple[str, DemoResult, list[ReadableSpan]]) -> None:
    path, result, spans = demo
    stored = set(query(path, "SELECT trace_id, span_id FROM llm_calls"))
    operations = Counter((s.attributes or {}).get(a.GEN_AI_OPERATION_NAME) for s in spans)
    assert operations["invoke_agent"] + operations["execute_tool"] == result.aggregate_spans
    assert operations[None] == result.other_spans == result.traces  # one HTTP or queue root per trace
    aggregates = [s for s in spans if (s.attributes or {}).get(a.GEN_AI_OPERATION_NAME) not in a.CALL_OPERATIONS]
    assert not stored & {ids(s) for s in aggregates}
    # The agent spans do carry usage (their children's sum): that is what must not be counted twice.
    agents_with_usage = [
        s for s in spans if s.name.startswith("invoke_agent") and (s.attributes or {}).get(a.GEN_AI_USAGE_INPUT_TOKENS)
    ]
    assert agents_with_usage
    assert query(
        path, "SELECT count(*) FROM llm_calls WHERE operation NOT IN ('chat', 'embeddings', 'generate_content')"
    ) == [(0,)]
    assert query(path, "SELECT count(*) FROM llm_calls WHERE span_name LIKE 'invoke_agent%'") == [(0,)]
    # Roots have no parent, and every call has one (an HTTP, queue or agent span).
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == result.traces and {s.kind for s in roots} == {SpanKind.SERVER, SpanKind.CONSUMER}
    assert query(path, "SELECT count(*) FROM llm_calls WHERE parent_span_id IS NULL") == [(0,)]


def test_unpriced_rows_are_the_unknown_model_and_failed_calls(demo: tuple[str, DemoResult, list[ReadableSpan]]) -> None:
    path, result, _ = demo
    by_status = dict(query(path, "SELECT pricing_status, count(*) FROM llm_calls WHERE cost_usd IS NULL GROUP BY 1"))
    assert by_status == {"unknown_model": result.unknown_model_calls, "no_usage": result.failed_calls_without_usage}
    assert result.unpriced == result.unknown_model_calls + result.failed_calls_without_usage
    assert query(
        path, "SELECT DISTINCT provider, request_model FROM llm_calls WHERE pricing_status = 'unknown_model'"
    ) == [("acme", "acme-llm-2")]
    assert query(path, "SELECT count(*) FROM llm_calls WHERE status_code = 'ERROR'") == [(result.failed_calls,)]
    assert query(path, "SELECT count(*) FROM llm_calls WHERE status_code = 'ERROR' AND error_type IS NULL") == [(0,)]


def test_the_workload_has_every_feature(demo: tuple[str, DemoResult, list[ReadableSpan]]) -> None:
    path, result, _ = demo
    assert query(path, "SELECT DISTINCT service_name, environment FROM llm_calls ORDER BY 1") == sorted(
        (name, environment) for name, environment, _ in SERVICES
    )
    models = query(path, "SELECT DISTINCT priced_model FROM llm_calls WHERE priced_model IS NOT NULL")
    assert {m for (m,) in models} == {
        "gpt-4o", "gpt-4o-mini", "gpt-5", "o4-mini", "text-embedding-3-small", "claude-sonnet-4-5",
        "claude-haiku-4-5", "gemini-2.5-flash",
    }  # fmt: skip
    assert query(path, "SELECT DISTINCT priced_provider FROM llm_calls WHERE provider = 'gcp.gemini' AND cost_usd > 0")
    (counts,) = query(
        path,
        """SELECT count(*) FILTER (WHERE cache_read_tokens > 0), count(*) FILTER (WHERE cache_write_tokens > 0),
                  count(*) FILTER (WHERE reasoning_tokens > 0 AND priced_model IN ('gpt-5', 'o4-mini')),
                  count(*) FILTER (WHERE status_code = 'ERROR' AND cost_usd IS NOT NULL),
                  count(DISTINCT user_id), count(DISTINCT conversation_id),
                  count(*) FILTER (WHERE input_tokens < cache_read_tokens + coalesce(cache_write_tokens, 0))
           FROM llm_calls""",
    )
    cache_reads, cache_writes, reasoning, failed_but_billed, users, conversations, bad_cache = counts
    assert min(cache_reads, cache_writes, reasoning, failed_but_billed) > 0
    assert users > 20 and conversations > 20
    assert bad_cache == 0  # input_tokens includes the cache, as the conventions say
    assert result.unknown_model_calls > 0 and result.failed_calls_without_usage > 0


def test_times_are_spread_over_the_report_window(demo: tuple[str, DemoResult, list[ReadableSpan]]) -> None:
    path, _, _ = demo
    ((first, last, days),) = query(
        path,
        "SELECT min(start_time), max(end_time), count(DISTINCT timezone('UTC', start_time)::DATE) FROM llm_calls",
    )
    window_start = datetime(2026, 11, 8, tzinfo=timezone.utc)  # today and the 13 days before
    assert window_start <= first and last <= NOW + timedelta(minutes=5)
    assert days == 14


def test_a_rerun_with_the_same_seed_stores_nothing(demo: tuple[str, DemoResult, list[ReadableSpan]]) -> None:
    path, first, _ = demo
    # A day later: the timestamps move, the ids do not.
    again = run_demo(path, calls=CALLS, seed=SEED, now_ns=NOW_NS + 86_400 * 10**9)
    assert (again.stored, again.already_present) == (0, CALLS)
    assert again.call_span_ids == first.call_span_ids
    assert query(path, "SELECT count(*) FROM llm_calls") == [(CALLS,)]


def test_fewer_calls_replay_a_prefix_and_another_seed_differs(
    demo: tuple[str, DemoResult, list[ReadableSpan]], tmp_path: Path
) -> None:
    _, full, _ = demo
    fewer = run_demo(tmp_path / "fewer.duckdb", calls=57, seed=SEED, now_ns=NOW_NS)
    assert fewer.call_span_ids == full.call_span_ids[:57]
    assert query(str(tmp_path / "fewer.duckdb"), "SELECT count(*) FROM llm_calls") == [(57,)]
    other = run_demo(tmp_path / "other.duckdb", calls=57, seed=SEED + 1, now_ns=NOW_NS)
    assert not set(other.call_span_ids) & set(full.call_span_ids)


def test_seeded_id_generator_is_deterministic_and_never_zero() -> None:
    one, two = SeededIdGenerator(5), SeededIdGenerator(5)
    first = [(one.generate_trace_id(), one.generate_span_id()) for _ in range(100)]
    assert first == [(two.generate_trace_id(), two.generate_span_id()) for _ in range(100)]
    assert all(0 < trace_id < 2**128 and 0 < span_id < 2**64 for trace_id, span_id in first)
    assert one.is_trace_id_random()


def test_failed_calls_have_error_status_and_type(demo: tuple[str, DemoResult, list[ReadableSpan]]) -> None:
    _, result, spans = demo
    failed = [s for s in spans if s.status.status_code is StatusCode.ERROR and s.kind is SpanKind.CLIENT]
    assert len(failed) == result.failed_calls
    assert {(s.attributes or {}).get(a.ERROR_TYPE) for s in failed} <= {"429", "timeout", "stream_interrupted"}


@pytest.mark.parametrize("calls", [0, 50_001])
def test_calls_out_of_range_is_a_value_error(calls: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="calls must be between"):
        run_demo(tmp_path / "x.duckdb", calls=calls)
    assert not (tmp_path / "x.duckdb").exists()
