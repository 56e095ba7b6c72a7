"""Pricing rules: unknown models, model choice, price history, time of day, reported costs."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import INVALID_USAGE, NO_MODEL, NO_USAGE, PRICED, UNKNOWN_MODEL, Pricer

NOV_2026 = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def record(when: datetime = NOV_2026, **fields: Any) -> CallRecord:
    base = CallRecord(
        trace_id="1" * 32, span_id="2" * 16, parent_span_id=None,
        start_time_ns=int(when.timestamp()) * 10**9, end_time_ns=int(when.timestamp()) * 10**9,
        span_name="chat", service_name="svc", environment=None, provider="openai", operation="chat",
        request_model="gpt-4o-mini", response_model=None, response_id=None,
        input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=None, cache_write_tokens=None,
        reasoning_tokens=None, user_id=None, conversation_id=None, agent_name=None,
        status_code="OK", error_type=None, reported_cost_usd=None,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def test_a_million_tokens_each_way_costs_the_list_price() -> None:
    cost = Pricer().price(record())
    # gpt-4o-mini: $0.15 per million input, $0.60 per million output
    assert (cost.pricing_status, cost.cost_usd) == (PRICED, Decimal("0.75"))
    assert (cost.input_cost_usd, cost.output_cost_usd) == (Decimal("0.15"), Decimal("0.6"))
    assert (cost.cache_read_cost_usd, cost.cache_write_cost_usd, cost.other_cost_usd) == (0, 0, 0)
    assert (cost.priced_provider, cost.priced_model, cost.cost_source) == ("openai", "gpt-4o-mini", "computed")


def test_unknown_model_is_null_with_a_reason_never_zero() -> None:
    cost = Pricer().price(record(request_model="acme-llm-2", provider="acme"))
    assert cost.pricing_status == UNKNOWN_MODEL
    assert cost.cost_usd is None and cost.input_cost_usd is None and cost.cost_source is None
    assert "acme-llm-2" in (cost.pricing_detail or "")


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"request_model": None}, NO_MODEL),
        ({"input_tokens": None, "output_tokens": None}, NO_USAGE),
        ({"usage_error": "gen_ai.usage.input_tokens: negative token count -5"}, INVALID_USAGE),
    ],
)
def test_unpriceable_calls_say_why(fields: dict[str, Any], status: str) -> None:
    cost = Pricer().price(record(**fields))
    assert (cost.pricing_status, cost.cost_usd) == (status, None)
    assert cost.pricing_detail


def test_response_model_wins_over_request_model() -> None:
    cost = Pricer().price(record(request_model="gpt-4o", response_model="gpt-4o-mini-2024-07-18"))
    assert (cost.priced_model, cost.cost_usd) == ("gpt-4o-mini", Decimal("0.75"))


def test_request_model_is_the_fallback_when_the_response_model_is_unknown() -> None:
    # Azure returns the deployment's name; the request named the real model.
    cost = Pricer().price(record(provider="azure.ai.openai", request_model="gpt-4o", response_model="prod-chat"))
    # gpt-4o: $2.5 in, $10 out per million
    assert (cost.priced_model, cost.cost_usd) == ("gpt-4o", Decimal("12.5"))


@pytest.mark.parametrize(
    ("provider", "model", "priced_provider"),
    [
        ("gcp.gemini", "gemini-2.5-flash", "google"),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),
        ("my-gateway", "gpt-4o-mini", "openai"),  # provider unknown to the catalog: matched by model
        (None, "claude-sonnet-4-5", "anthropic"),
    ],
)
def test_provider_names_are_mapped_to_the_catalog(provider: str | None, model: str, priced_provider: str) -> None:
    cost = Pricer().price(record(provider=provider, request_model=model))
    assert (cost.pricing_status, cost.priced_provider) == (PRICED, priced_provider)


def test_price_is_taken_at_the_span_start_time() -> None:
    # o3 was cut from $10/$40 to $2/$8 per million on 2025-06-10.
    pricer = Pricer()
    before = pricer.price(record(datetime(2025, 6, 9, 23, 59, tzinfo=timezone.utc), request_model="o3"))
    after = pricer.price(record(datetime(2025, 6, 10, 0, 1, tzinfo=timezone.utc), request_model="o3"))
    assert (before.cost_usd, after.cost_usd) == (Decimal("50"), Decimal("10"))
    assert before.price_id != after.price_id
    plans = {p.price_id: p for p in pricer.take_new_plans()}
    assert plans[after.price_id or ""].effective_from == datetime(2025, 6, 10).date()
    assert plans[before.price_id or ""].effective_to == datetime(2025, 6, 10).date()
    assert pricer.take_new_plans() == []  # each plan is handed to the store once


def test_time_of_day_prices_are_not_cached_per_day() -> None:
    # deepseek-chat: peak rates 00:30-16:30 UTC, off-peak otherwise, on the same day.
    pricer = Pricer()
    morning = pricer.price(record(datetime(2026, 11, 20, 10, tzinfo=timezone.utc), provider="deepseek",
                                  request_model="deepseek-chat"))  # fmt: skip
    evening = pricer.price(record(datetime(2026, 11, 20, 20, tzinfo=timezone.utc), provider="deepseek",
                                  request_model="deepseek-chat"))  # fmt: skip
    assert (morning.pricing_status, evening.pricing_status) == (PRICED, PRICED)
    assert morning.cost_usd != evening.cost_usd


def test_long_context_tier_applies_to_the_whole_request() -> None:
    pricer = Pricer()
    # claude-sonnet-4-5: $3/$15 per million up to 200k input, then $6/$22.5 for *every* token.
    under = pricer.price(record(provider="anthropic", request_model="claude-sonnet-4-5", input_tokens=200_000,
                                output_tokens=1000))  # fmt: skip
    over = pricer.price(record(provider="anthropic", request_model="claude-sonnet-4-5", input_tokens=200_001,
                               output_tokens=1000))  # fmt: skip
    assert under.cost_usd == Decimal("0.615")  # 200000 x 3 + 1000 x 15, per million
    assert over.cost_usd == Decimal("1.222506")  # 200001 x 6 + 1000 x 22.5, per million


def test_cached_tokens_are_priced_at_their_own_rates() -> None:
    cost = Pricer().price(
        record(provider="anthropic", request_model="claude-sonnet-4-5", input_tokens=10_000,
               cache_read_tokens=6_000, cache_write_tokens=3_000, output_tokens=0)
    )  # fmt: skip
    # 1000 uncached x $3 + 6000 read x $0.30 + 3000 written x $3.75, per million
    assert (cost.input_cost_usd, cost.cache_read_cost_usd, cost.cache_write_cost_usd) == (
        Decimal("0.003"),
        Decimal("0.0018"),
        Decimal("0.01125"),
    )
    assert cost.cost_usd == Decimal("0.01605")


def test_reasoning_tokens_are_output_tokens() -> None:
    with_reasoning = Pricer().price(record(request_model="o3", output_tokens=1000, reasoning_tokens=800))
    without = Pricer().price(record(request_model="o3", output_tokens=1000))
    assert with_reasoning.output_cost_usd == without.output_cost_usd == Decimal("0.008")


def test_reported_cost_is_kept_and_counts_only_when_we_cannot_price() -> None:
    reported = Decimal("0.42")
    unknown = Pricer().price(record(request_model="acme-llm-2", provider="acme", reported_cost_usd=reported))
    assert (unknown.cost_usd, unknown.cost_source, unknown.computed_cost_usd) == (reported, "reported", None)
    known = Pricer().price(record(reported_cost_usd=reported))
    assert (known.cost_usd, known.cost_source) == (Decimal("0.75"), "computed")
