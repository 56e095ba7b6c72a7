"""Reading OTel GenAI attributes (current and deprecated names) into a CallRecord."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import chat_attributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from otel_llm_cost._values import MAX_TOKENS, parse_token_count
from otel_llm_cost.conventions import looks_like_llm_call, to_call_record


def make_span(attributes: dict[str, Any], *, name: str = "chat", error: bool = False) -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "checkout", "deployment.environment.name": "prod"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("parent"), tracer.start_as_current_span(name, attributes=attributes) as span:
        if error:
            span.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return next(s for s in exporter.get_finished_spans() if s.name == name)


def test_current_conventions_are_read() -> None:
    span = make_span(
        chat_attributes(
            gen_ai__response__model="gpt-4o-mini-2024-07-18",
            gen_ai__usage__cache_read__input_tokens=300,
            gen_ai__usage__cache_write__input_tokens=200,
            gen_ai__usage__reasoning__output_tokens=40,
            gen_ai__conversation__id="conv-1",
            gen_ai__agent__name="support",
            gen_ai__response__id="resp-9",
            user__id="u-7",
        )
    )
    record = to_call_record(span)
    assert record is not None
    assert (record.provider, record.operation, record.request_model, record.response_model) == (
        "openai",
        "chat",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert (record.input_tokens, record.cache_read_tokens, record.cache_write_tokens) == (1000, 300, 200)
    assert (record.output_tokens, record.reasoning_tokens) == (100, 40)
    assert (record.conversation_id, record.agent_name, record.response_id, record.user_id) == (
        "conv-1",
        "support",
        "resp-9",
        "u-7",
    )
    assert (record.service_name, record.environment, record.status_code) == ("checkout", "prod", "UNSET")
    assert record.trace_id == format(span.context.trace_id, "032x") and len(record.trace_id) == 32
    assert record.span_id == format(span.context.span_id, "016x") and len(record.span_id) == 16
    assert record.parent_span_id is not None and len(record.parent_span_id) == 16
    assert record.start_time_ns == span.start_time and not record.input_excluded_cache


def test_deprecated_names_are_read() -> None:
    span = make_span(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "gen_ai.usage.prompt_tokens": 500,
            "gen_ai.usage.completion_tokens": 50,
            "gen_ai.usage.cache_creation.input_tokens": 100,
        }
    )
    record = to_call_record(span)
    assert record is not None
    assert (record.provider, record.input_tokens, record.output_tokens, record.cache_write_tokens) == (
        "anthropic",
        500,
        50,
        100,
    )


def test_new_name_wins_when_both_are_present() -> None:
    record = to_call_record(
        make_span(chat_attributes(gen_ai__usage__prompt_tokens=7, gen_ai__system="azure.ai.openai"))
    )
    assert record is not None and (record.input_tokens, record.provider) == (1000, "openai")


def test_input_reported_without_its_cache_tokens_is_made_inclusive() -> None:
    # OpenLIT for Anthropic and Bedrock Converse report only the uncached input.
    record = to_call_record(make_span(chat_attributes(gen_ai__usage__input_tokens=100,
                                                      gen_ai__usage__cache_read__input_tokens=900,
                                                      gen_ai__usage__cache_creation__input_tokens=50)))  # fmt: skip
    assert record is not None
    assert (record.input_tokens, record.input_excluded_cache) == (1050, True)


def test_reasoning_reported_apart_from_output_is_added_back() -> None:
    record = to_call_record(make_span(chat_attributes(gen_ai__usage__output_tokens=10,
                                                      gen_ai__usage__reasoning__output_tokens=90)))  # fmt: skip
    assert record is not None and (record.output_tokens, record.reasoning_tokens) == (100, 90)


@pytest.mark.parametrize("operation", ["invoke_agent", "execute_tool", "invoke_workflow", "create_agent"])
def test_aggregate_spans_are_not_calls(operation: str) -> None:
    # An agent span repeating its children's usage must not be priced a second time.
    assert to_call_record(make_span(chat_attributes(gen_ai__operation__name=operation))) is None


def test_embeddings_and_unnamed_operations_are_calls() -> None:
    assert to_call_record(make_span(chat_attributes(gen_ai__operation__name="embeddings"))) is not None
    assert to_call_record(make_span(chat_attributes(gen_ai__operation__name=None))) is not None


def test_error_status_is_kept() -> None:
    record = to_call_record(make_span(chat_attributes(error__type="RateLimitError"), error=True))
    assert record is not None and (record.status_code, record.error_type) == ("ERROR", "RateLimitError")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-5, "negative token count -5"),
        ("lots", "'lots' is not a token count"),
        (12.5, "12.5 is not a whole number of tokens"),
        (float("nan"), "nan is not a whole number of tokens"),
        (float("inf"), "inf is not a whole number of tokens"),
        (10**13, f"token count {10**13} exceeds {MAX_TOKENS}"),
        (True, "boolean True is not a token count"),
    ],
)
def test_bad_token_counts_are_rejected_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace("+", r"\+") + "$"):
        parse_token_count(value)
    record = to_call_record(make_span(chat_attributes(gen_ai__usage__input_tokens=value)))
    assert record is not None
    assert record.input_tokens is None and record.output_tokens == 100
    assert record.usage_error == f"gen_ai.usage.input_tokens: {message}"


@pytest.mark.parametrize(("value", "count"), [(12, 12), (12.0, 12), ("340", 340), (" 7 ", 7), (0, 0)])
def test_reasonable_token_spellings_are_accepted(value: object, count: int) -> None:
    assert parse_token_count(value) == count


def test_missing_counts_stay_missing_not_zero() -> None:
    record = to_call_record(make_span(chat_attributes(gen_ai__usage__output_tokens=None)))
    assert record is not None and (record.input_tokens, record.output_tokens) == (1000, None)
    assert record.cache_read_tokens is None and record.has_usage


def test_a_model_name_with_sql_in_it_is_kept_verbatim() -> None:
    model = "gpt-4o'); DROP TABLE llm_calls; --"
    record = to_call_record(make_span(chat_attributes(gen_ai__request__model=model)))
    assert record is not None and record.request_model == model


def test_only_genai_spans_look_like_llm_calls() -> None:
    assert looks_like_llm_call(chat_attributes())
    assert looks_like_llm_call({"gen_ai.system": "openai"})
    assert not looks_like_llm_call({"http.request.method": "GET", "url.path": "/chat"})
    assert not looks_like_llm_call({})
    assert not looks_like_llm_call(None)
