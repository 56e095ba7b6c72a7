"""One provider call reported by several spans is counted once; distinct calls never merge."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from conftest import chat_attributes, query
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost._duplicates import DuplicateDetector
from otel_llm_cost.conventions import CallRecord

SECOND = 10**9


def call(span_id: str, **fields: Any) -> CallRecord:
    base = CallRecord(
        trace_id="a" * 32, span_id=span_id, parent_span_id=None, start_time_ns=100 * SECOND,
        end_time_ns=102 * SECOND, span_name="chat", service_name=None, environment=None, provider="anthropic",
        operation="chat", request_model="claude-sonnet-4-5", response_model=None, response_id=None,
        input_tokens=3500, output_tokens=400, cache_read_tokens=2000, cache_write_tokens=500, reasoning_tokens=None,
        user_id=None, conversation_id=None, agent_name=None, status_code="OK", error_type=None,
        reported_cost_usd=None, scope_name="opentelemetry.instrumentation.anthropic",
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def test_same_response_id_is_one_call_even_across_traces() -> None:
    detector = DuplicateDetector()
    assert detector.original_of(call("1" * 16, response_id="msg_1"), "claude-sonnet-4-5") is None
    second = call("2" * 16, trace_id="b" * 32, response_id="msg_1", scope_name="com.anthropic.sdk.python")
    assert detector.original_of(second, "claude-sonnet-4-5") == ("a" * 32, "1" * 16)


def test_same_usage_from_another_scope_at_the_same_time_is_one_call() -> None:
    detector = DuplicateDetector()
    assert detector.original_of(call("1" * 16, response_id="msg_1"), "claude-sonnet-4-5") is None
    # The SDK's own span has no response id; same model and tokens, overlapping in time.
    native = call("2" * 16, scope_name="com.anthropic.sdk.python", start_time_ns=100 * SECOND + 5)
    assert detector.original_of(native, "claude-sonnet-4-5") == ("a" * 32, "1" * 16)
    # A third report of the same call points at the first one too, not at the second.
    third = call("3" * 16, scope_name="openinference.instrumentation.anthropic")
    assert detector.original_of(third, "claude-sonnet-4-5") == ("a" * 32, "1" * 16)


def test_different_response_ids_are_never_one_call() -> None:
    detector = DuplicateDetector()
    assert detector.original_of(call("1" * 16, response_id="msg_1"), "m") is None
    other = call("2" * 16, response_id="msg_2", scope_name="com.anthropic.sdk.python")
    assert detector.original_of(other, "m") is None


def test_equal_usage_from_the_same_scope_is_two_calls() -> None:
    # A retry loop sending the same prompt twice really pays twice.
    detector = DuplicateDetector()
    assert detector.original_of(call("1" * 16), "m") is None
    assert detector.original_of(call("2" * 16), "m") is None


def test_equal_usage_far_apart_in_time_is_two_calls() -> None:
    detector = DuplicateDetector()
    assert detector.original_of(call("1" * 16), "m") is None
    later = call("2" * 16, scope_name="other", start_time_ns=200 * SECOND, end_time_ns=201 * SECOND)
    assert detector.original_of(later, "m") is None


def test_adjacent_intervals_within_a_second_match() -> None:
    detector = DuplicateDetector()
    assert detector.original_of(call("1" * 16), "m") is None
    just_after = call("2" * 16, scope_name="other", start_time_ns=102 * SECOND + SECOND // 2, end_time_ns=103 * SECOND)
    assert detector.original_of(just_after, "m") == ("a" * 32, "1" * 16)


def test_different_tokens_or_models_are_different_calls() -> None:
    detector = DuplicateDetector()
    assert detector.original_of(call("1" * 16), "m") is None
    assert detector.original_of(call("2" * 16, scope_name="other", output_tokens=401), "m") is None
    assert detector.original_of(call("3" * 16, scope_name="other"), "another-model") is None


def test_each_scope_claims_an_original_once() -> None:
    # Two real calls with equal usage, each reported by two libraries: two originals, two duplicates.
    detector = DuplicateDetector()
    assert detector.original_of(call("a1" * 8, scope_name="A"), "m") is None
    assert detector.original_of(call("b1" * 8, scope_name="B"), "m") == ("a" * 32, "a1" * 8)
    assert detector.original_of(call("b2" * 8, scope_name="B"), "m") is None  # B's second call is a call
    assert detector.original_of(call("a2" * 8, scope_name="A"), "m") == ("a" * 32, "b2" * 8)


def test_many_look_alike_calls_from_one_scope_stay_bounded() -> None:
    detector = DuplicateDetector()
    for i in range(1000):
        assert detector.original_of(call(f"{i:016x}"), "m") is None  # same scope: never duplicates
    [scopes] = detector._by_content.values()
    assert len(scopes["opentelemetry.instrumentation.anthropic"]) == 8


def test_memory_is_bounded() -> None:
    detector = DuplicateDetector(max_entries=10)
    for i in range(100):
        detector.original_of(call(f"{i:016x}", response_id=f"r{i}", output_tokens=i), "m")
    assert len(detector._by_response_id) == 10 and len(detector._by_content) == 10


def test_duplicates_are_stored_flagged_and_excluded_from_views(traced: Any, db_path: str) -> None:
    provider, processor = traced
    assert isinstance(provider, TracerProvider) and isinstance(processor, LLMCostSpanProcessor)
    attributes = chat_attributes(gen_ai__response__id="chatcmpl-42")
    provider.get_tracer("openllmetry").start_span("openai.chat", attributes=attributes).end()
    provider.get_tracer("openinference").start_span("ChatCompletion", attributes=attributes).end()
    processor.force_flush()
    rows = query(db_path, "SELECT is_duplicate, duplicate_of_span_id IS NOT NULL FROM llm_calls ORDER BY 1")
    assert rows == [(False, False), (True, True)]
    # gpt-4o-mini, 1000 in / 100 out: counted once in the views
    assert query(db_path, "SELECT sum(calls), sum(cost_usd) FROM llm_daily_cost") == [(1, Decimal("0.00021"))]
    assert processor.stats().duplicates == 1
