"""Opt-in storage of span attributes: an allow-list, a redaction hook, nothing by default."""

from __future__ import annotations

import json
import os
from typing import Any
from unittest import mock

import pytest
from conftest import chat_attributes, query
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import LLMCostSpanProcessor
from otel_llm_cost._capture import MAX_VALUE_CHARS, TRUNCATED_KEY, AttributeCapture

PROMPT = '[{"role": "user", "content": "my card is 4111 1111 1111 1111"}]'


def stored_attributes(db_path: str, **options: Any) -> Any:
    provider = TracerProvider()
    processor = LLMCostSpanProcessor(db_path=db_path, flush_at_exit=False, metrics=False, **options)
    provider.add_span_processor(processor)
    attributes = chat_attributes(
        gen_ai__input__messages=PROMPT, gen_ai__prompt__name="refund-v3", app__feature="refunds"
    )
    provider.get_tracer("t").start_span("chat", attributes=attributes).end()
    provider.shutdown()
    [(text,)] = query(db_path, "SELECT attributes FROM llm_calls")
    return None if text is None else json.loads(text)


def test_nothing_is_stored_by_default(db_path: str) -> None:
    assert stored_attributes(db_path) is None


def test_only_listed_attributes_are_stored(db_path: str) -> None:
    assert stored_attributes(db_path, store_attributes=["gen_ai.prompt.name", "app.*"]) == {
        "app.feature": "refunds",
        "gen_ai.prompt.name": "refund-v3",
    }


def test_the_redaction_hook_rewrites_or_drops(db_path: str) -> None:
    def redact(name: str, value: Any) -> Any:
        if name == "gen_ai.input.messages":
            return value.replace("4111 1111 1111 1111", "[card]")
        return None if name == "app.feature" else value

    stored = stored_attributes(db_path, store_attributes=["gen_ai.*", "app.feature"], redact=redact)
    assert stored["gen_ai.input.messages"] == '[{"role": "user", "content": "my card is [card]"}]'
    assert "app.feature" not in stored
    assert stored["gen_ai.usage.input_tokens"] == 1000


def test_a_failing_redaction_hook_never_stores_the_value(db_path: str) -> None:
    def redact(name: str, value: Any) -> Any:
        raise RuntimeError("bug in the hook")

    assert stored_attributes(db_path, store_attributes=["gen_ai.input.messages"], redact=redact) is None


def test_the_environment_variable_lists_attributes(db_path: str) -> None:
    with mock.patch.dict(os.environ, {"OTEL_LLM_COST_STORE_ATTRIBUTES": " app.feature , gen_ai.prompt.name"}):
        assert stored_attributes(db_path) == {"app.feature": "refunds", "gen_ai.prompt.name": "refund-v3"}


def test_one_string_instead_of_a_list_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match=r"^store_attributes must be a list of attribute names, not one string$"):
        LLMCostSpanProcessor(store_attributes="gen_ai.input.messages", flush_at_exit=False)


def test_oversized_values_are_cut_and_marked() -> None:
    capture = AttributeCapture(["big", "small", "list"])
    stored = json.loads(capture.capture({"big": "x" * (MAX_VALUE_CHARS * 2), "small": 1, "list": ("a", "b")}) or "")
    assert stored["small"] == 1 and stored["list"] == ["a", "b"]
    assert len(stored["big"]) == MAX_VALUE_CHARS and stored[TRUNCATED_KEY] == ["big"]
    assert capture.redaction_failures == 0
