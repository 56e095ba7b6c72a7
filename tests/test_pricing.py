"""Pricing rules: unknown models, model choice, price history, time of day, reported costs."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from otel_llm_cost import _rate_plan, pricing
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


def test_a_per_request_fee_is_charged_once_per_call_even_without_tokens() -> None:
    pricer = Pricer()
    # perplexity sonar: $1/M in, $1/M out, $12 per thousand requests
    cost = pricer.price(record(provider="perplexity", request_model="sonar", input_tokens=1000, output_tokens=1000))
    assert (cost.input_cost_usd, cost.output_cost_usd) == (Decimal("0.001"), Decimal("0.001"))
    assert (cost.other_cost_usd, cost.cost_usd) == (Decimal("0.012"), Decimal("0.014"))
    empty = pricer.price(record(provider="perplexity", request_model="sonar", input_tokens=0, output_tokens=0))
    assert (empty.pricing_status, empty.cost_usd, empty.output_cost_usd) == (PRICED, Decimal("0.012"), 0)


def test_counts_past_28_digits_round_exactly_as_calc_price() -> None:
    # rate * count overflows the 28-digit context here, so every product and sum rounds: the
    # per-token rates and the summation order must still give calc_price's value to the last digit.
    usage = {"input_tokens": 987654321098765432109876543, "cache_read_tokens": 123456789012345678901234567,
             "cache_write_tokens": 234567890123456789012345678, "output_tokens": 876543210987654321098765431,
             "output_reasoning_tokens": 765432109876543210987654321}  # fmt: skip
    pricer = Pricer()
    models = [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o-mini"), ("google", "gemini-2.5-pro")]
    for provider, model in models:
        cost = pricer.price(record(provider=provider, request_model=model, input_tokens=usage["input_tokens"],
                                   output_tokens=usage["output_tokens"], cache_read_tokens=usage["cache_read_tokens"],
                                   cache_write_tokens=usage["cache_write_tokens"],
                                   reasoning_tokens=usage["output_reasoning_tokens"]))  # fmt: skip
        expected = calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=NOV_2026)
        assert cost.computed_cost_usd == expected.total_price, model
        assert cost.output_cost_usd == expected.output_price, model


def test_rates_are_divided_per_token_only_when_that_is_exact() -> None:
    units = _rate_plan.REGISTRY.units
    # per a million tokens: stored per token, no division left per span
    assert _rate_plan.cost_step(units["input_tokens"], Decimal("2.5"))[1:] == (Decimal("2.5E-6"), None, None)
    # per hour of audio (3600 s): 1/3600 is no finite decimal, so rate * count / per stays per span
    assert _rate_plan.cost_step(units["audio_seconds"], Decimal("0.1"))[1:] == (Decimal("0.1"), None, 3600)


def test_the_span_cache_changes_no_result_and_hands_each_plan_over_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [
        record(datetime(2025, 6, day, hour, tzinfo=timezone.utc), provider=provider, request_model=model,
               response_model=response)
        for day in (8, 9, 10, 11)
        for hour in (1, 20)
        for provider, model, response in [("openai", "o3", None), ("openai", "gpt-4o", "GPT-4O-MINI"),
                                          ("azure.ai.openai", "gpt-4o", "prod-chat"), ("acme", "acme-llm", None),
                                          ("deepseek", "deepseek-chat", None)]
    ]  # fmt: skip
    uncached = []
    for call in calls:  # a fresh Pricer per call: nothing cached
        uncached.append(dataclasses.asdict(Pricer().price(call)))
    monkeypatch.setattr(pricing, "_SPAN_CACHE_SIZE", 3)  # start afresh every few entries
    pricer = Pricer()
    for _ in range(2):
        assert [dataclasses.asdict(pricer.price(call)) for call in calls] == uncached
    plans = pricer.take_new_plans()
    assert len(plans) == len({p.price_id for p in plans}) == len({c["price_id"] for c in uncached} - {None})
    assert pricer.take_new_plans() == []
