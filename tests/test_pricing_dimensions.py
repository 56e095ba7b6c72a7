"""Every price dimension, from span attributes to an exact Decimal: long-context tiers, cache reads,
5-minute and 1-hour cache writes, audio and image tokens in and out, per-request fees, batch and
priority/flex service tiers, and regional or provider variants (Bedrock, Vertex, Azure)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from otel_llm_cost.conventions import to_call_record
from otel_llm_cost.pricing import PRICED, Cost, Pricer

NOV_2026 = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
SEP_2026 = datetime(2026, 9, 1, 12, tzinfo=timezone.utc)  # before the batch and tier variants start


def span(attributes: dict[str, Any], when: datetime = NOV_2026) -> ReadableSpan:
    ns = int(when.timestamp() * 1e9)
    context = SpanContext(trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(1))
    return ReadableSpan(name="chat", context=context, attributes=attributes, start_time=ns, end_time=ns + 1)


def price(attributes: dict[str, Any], when: datetime = NOV_2026, pricer: Pricer | None = None) -> Cost:
    record = to_call_record(span({"gen_ai.operation.name": "chat", **attributes}, when))
    assert record is not None
    cost = (pricer or Pricer()).price(record)
    assert cost.pricing_status == PRICED, cost.pricing_detail
    return cost


def usage(input_tokens: int, output_tokens: int, **more: int) -> dict[str, Any]:
    return {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens, **more}


def anthropic(model: str) -> dict[str, Any]:
    return {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": model}


def openai(model: str) -> dict[str, Any]:
    return {"gen_ai.provider.name": "openai", "gen_ai.request.model": model}


def test_a_long_context_tier_prices_the_whole_request() -> None:
    # claude-sonnet-4-5: $3 in / $15 out per MTok up to 200k input tokens, $6 / $22.5 for all of a larger one
    assert price({**anthropic("claude-sonnet-4-5"), **usage(200_000, 1000)}).cost_usd == Decimal("0.615")
    above = price({**anthropic("claude-sonnet-4-5"), **usage(250_000, 1000)})
    assert above.cost_usd == Decimal("1.5225")  # 250k x $6 + 1k x $22.5, not 200k x $3 + 50k x $6
    assert above.input_cost_usd == Decimal("1.5")


def test_cache_reads_are_priced_at_the_cache_rate() -> None:
    # gpt-4o-mini: 600 uncached x $0.15 + 400 cached x $0.075 + 100 out x $0.60
    cost = price({**openai("gpt-4o-mini"), **usage(1000, 100, **{"gen_ai.usage.cache_read.input_tokens": 400})})
    assert (cost.cost_usd, cost.input_cost_usd, cost.cache_read_cost_usd) == (
        Decimal("0.00018"), Decimal("0.00009"), Decimal("0.00003"))  # fmt: skip


def test_one_hour_cache_writes_cost_more_than_five_minute_ones() -> None:
    # claude-haiku-4-5: $1 input, $1.25 5-minute write, $2 1-hour write per MTok
    attributes = {**anthropic("claude-haiku-4-5"), **usage(10_000, 0)}
    attributes["gen_ai.usage.cache_write.input_tokens"] = 4000
    attributes["anthropic.usage.cache_creation.ephemeral_1h_input_tokens"] = 1000
    cost = price(attributes)
    # 6000 x $1 + 3000 x $1.25 + 1000 x $2
    assert (cost.cost_usd, cost.cache_write_cost_usd) == (Decimal("0.01175"), Decimal("0.00575"))
    del attributes["anthropic.usage.cache_creation.ephemeral_1h_input_tokens"]
    assert price(attributes).cost_usd == Decimal("0.011")  # all 4000 writes at the 5-minute rate


@pytest.mark.parametrize(
    ("audio_in", "audio_out"),
    [
        ("gen_ai.usage.audio.input_tokens", "gen_ai.usage.audio.output_tokens"),  # OTel GenAI repo
        ("llm.token_count.prompt_details.audio", "llm.token_count.completion_details.audio"),  # OpenInference
    ],
)
def test_audio_tokens_in_and_out(audio_in: str, audio_out: str) -> None:
    # gpt-audio-mini: text $0.6 in / $2.4 out, audio $10 in / $20 out per MTok
    cost = price({**openai("gpt-audio-mini"), **usage(5000, 2000, **{audio_in: 3000, audio_out: 1500})})
    # 2000 x $0.6 + 3000 x $10 + 500 x $2.4 + 1500 x $20
    assert (cost.cost_usd, cost.input_cost_usd, cost.output_cost_usd) == (
        Decimal("0.0624"), Decimal("0.0312"), Decimal("0.0312"))  # fmt: skip


def test_cached_audio_input_has_its_own_rate() -> None:
    # gpt-realtime-mini: text in $0.6, cached text $0.06, audio in $10, cached audio $0.3
    attributes = {**openai("gpt-realtime-mini"), **usage(10_000, 0)}
    attributes |= {"gen_ai.usage.audio.input_tokens": 6000, "gen_ai.usage.cache_read.input_tokens": 3000,
                   "gen_ai.usage.audio.cache_read.input_tokens": 2000}  # fmt: skip
    # text: 4000 in (1000 of them cached); audio: 6000 in (2000 cached)
    # 3000 x $0.6 + 1000 x $0.06 + 4000 x $10 + 2000 x $0.3
    assert price(attributes).cost_usd == Decimal("0.04246")


def test_image_tokens_in_and_out() -> None:
    # gpt-image-1.5: text $5 in / $10 out, image $8 in / $32 out, cached image input $2 per MTok
    attributes = {**openai("gpt-image-1.5"), **usage(3000, 5000)}
    attributes |= {"gen_ai.usage.image.input_tokens": 2000, "gen_ai.usage.image.cache_read.input_tokens": 500,
                   "gen_ai.usage.cache_read.input_tokens": 500, "gen_ai.usage.image.output_tokens": 4000}  # fmt: skip
    # 1000 x $5 + 1500 x $8 + 500 x $2 + 1000 x $10 + 4000 x $32
    cost = price(attributes)
    assert (cost.cost_usd, cost.output_cost_usd) == (Decimal("0.156"), Decimal("0.138"))


def test_a_per_request_fee_is_charged_once_per_call() -> None:
    # perplexity sonar: $1 in / $1 out per MTok and $12 per thousand requests
    cost = price({"gen_ai.provider.name": "perplexity", "gen_ai.request.model": "sonar", **usage(1000, 500)})
    assert (cost.cost_usd, cost.other_cost_usd) == (Decimal("0.0135"), Decimal("0.012"))


@pytest.mark.parametrize(
    ("tier_attributes", "expected"),
    [
        ({}, Decimal("0.0225")),  # gpt-5: $1.25 in, $10 out per MTok
        ({"openai.response.service_tier": "default"}, Decimal("0.0225")),
        ({"openai.response.service_tier": "flex"}, Decimal("0.01125")),  # half price
        ({"openai.response.service_tier": "priority"}, Decimal("0.045")),  # double
        ({"gen_ai.openai.response.service_tier": "priority"}, Decimal("0.045")),  # semconv < 1.37
        # the response names the tier that served the call; the request only asked ("auto")
        ({"openai.request.service_tier": "auto", "openai.response.service_tier": "flex"}, Decimal("0.01125")),
        ({"openai.request.service_tier": "flex"}, Decimal("0.01125")),  # no response tier: the request's
    ],
)
def test_openai_service_tiers(tier_attributes: dict[str, str], expected: Decimal) -> None:
    assert price({**openai("gpt-5"), **usage(10_000, 1000), **tier_attributes}).cost_usd == expected


def test_batch_prices_from_the_anthropic_service_tier() -> None:
    attributes = {**anthropic("claude-haiku-4-5"), **usage(10_000, 1000), "anthropic.response.service_tier": "batch"}
    pricer = Pricer()
    batch = price(attributes, pricer=pricer)
    assert batch.cost_usd == Decimal("0.0075")  # half of $1 in / $5 out per MTok
    plan = next(p for p in pricer.take_new_plans() if p.price_id == batch.price_id)
    assert (plan.variant, str(plan.effective_from)) == ("processing=batch", "2026-10-14")
    # Before the catalog's batch price starts, a batch call is priced at the standard rate.
    assert price(attributes, SEP_2026).cost_usd == Decimal("0.015")
    standard = price({**attributes, "anthropic.response.service_tier": "standard"})
    assert standard.cost_usd == Decimal("0.015")
    assert standard.price_id != batch.price_id


def test_a_tier_the_model_has_no_price_for_is_priced_at_the_standard_rate() -> None:
    pricer = Pricer()
    flex = price({**openai("gpt-4o-mini"), **usage(1000, 100), "openai.response.service_tier": "flex"}, pricer=pricer)
    standard = price({**openai("gpt-4o-mini"), **usage(1000, 100)}, pricer=pricer)
    assert flex.cost_usd == standard.cost_usd == Decimal("0.00021")
    assert flex.price_id == standard.price_id  # the same model_prices row


@pytest.mark.parametrize(
    ("provider", "model", "priced_model", "expected"),
    [
        # Bedrock: a regional (us./eu.) inference profile costs 10% more than the global one
        ("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
         "regional.anthropic.claude-sonnet-4-5-20250929-v1:0", Decimal("0.0198")),
        ("aws.bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
         "regional.anthropic.claude-sonnet-4-5-20250929-v1:0", Decimal("0.0198")),
        ("aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
         "global.anthropic.claude-sonnet-4-5-20250929-v1:0", Decimal("0.018")),
        # Vertex AI serves Anthropic's model under its own name: priced at Anthropic's rates
        ("gcp.vertex_ai", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5", Decimal("0.018")),
    ],
)  # fmt: skip
def test_regional_and_provider_variants(provider: str, model: str, priced_model: str, expected: Decimal) -> None:
    cost = price({"gen_ai.provider.name": provider, "gen_ai.request.model": model, **usage(1000, 1000)})
    assert (cost.priced_model, cost.cost_usd) == (priced_model, expected)


def test_an_azure_deployment_name_falls_back_to_the_request_model() -> None:
    attributes = {"gen_ai.provider.name": "azure.ai.openai", "gen_ai.request.model": "gpt-4o",
                  "gen_ai.response.model": "prod-chat-eastus", **usage(1000, 100)}  # fmt: skip
    cost = price(attributes)
    assert (cost.priced_provider, cost.priced_model, cost.cost_usd) == ("azure", "gpt-4o", Decimal("0.0035"))
