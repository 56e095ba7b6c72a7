"""Our cached rate plans must give exactly what genai-prices' calc_price gives, to the last digit:
for every model of the major providers, on dates across its price history, for sampled usages that
include cache reads and writes (5-minute and 1-hour), reasoning, audio and image tokens, and for
every service tier or batch variant a span can select."""

from __future__ import annotations

import random
import warnings
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price, data_snapshot

from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import PRICED, Pricer

PROVIDERS = ("openai", "anthropic", "google", "aws", "azure", "mistral", "deepseek", "x-ai", "groq", "cohere")
WHEN = [
    datetime(2024, 6, 1, 12, tzinfo=timezone.utc),
    datetime(2025, 9, 1, 3, tzinfo=timezone.utc),
    datetime(2026, 11, 20, 20, tzinfo=timezone.utc),  # evening UTC: deepseek's off-peak window differs
]
# Usage keys, in the order _record reads them.
KEYS = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "output_reasoning_tokens",
    "cache_write_1h_tokens", "input_audio_tokens", "cache_audio_read_tokens", "output_audio_tokens",
    "input_image_tokens", "cache_image_read_tokens", "output_image_tokens",
)  # fmt: skip


def _record(model: str, provider: str, when: datetime, usage: dict[str, int], tier: str | None = None) -> CallRecord:
    return CallRecord(
        trace_id="0" * 32, span_id="0" * 16, parent_span_id=None,
        start_time_ns=int(when.timestamp() * 1e9), end_time_ns=int(when.timestamp() * 1e9),
        span_name="chat", service_name=None, environment=None, provider=provider, operation="chat",
        request_model=model, response_model=None, response_id=None,
        input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"],
        cache_read_tokens=usage["cache_read_tokens"], cache_write_tokens=usage["cache_write_tokens"],
        reasoning_tokens=usage["output_reasoning_tokens"], user_id=None, conversation_id=None, agent_name=None,
        status_code="OK", error_type=None, reported_cost_usd=None,
        cache_write_1h_tokens=usage.get("cache_write_1h_tokens", 0),
        input_audio_tokens=usage.get("input_audio_tokens", 0),
        cache_audio_read_tokens=usage.get("cache_audio_read_tokens", 0),
        output_audio_tokens=usage.get("output_audio_tokens", 0),
        input_image_tokens=usage.get("input_image_tokens", 0),
        cache_image_read_tokens=usage.get("cache_image_read_tokens", 0),
        output_image_tokens=usage.get("output_image_tokens", 0),
        service_tier=tier,
    )  # fmt: skip


def _usage(**counts: int) -> dict[str, int]:
    return {key: counts.get(key, 0) for key in KEYS}


def _usages(rng: random.Random) -> list[dict[str, int]]:
    usages = [
        _usage(input_tokens=1000, output_tokens=100),
        # long context: past the 200k tiers, with every cache kind and reasoning
        _usage(input_tokens=250_000, output_tokens=4000, cache_read_tokens=120_000, cache_write_tokens=30_000,
               cache_write_1h_tokens=10_000, output_reasoning_tokens=1500),
        # exactly at a tier start (tiers apply strictly above it)
        _usage(input_tokens=200_000, output_tokens=1),
        _usage(),
        # audio and image in and out, some of them cached
        _usage(input_tokens=9000, output_tokens=3000, cache_read_tokens=2000, input_audio_tokens=4000,
               cache_audio_read_tokens=1000, input_image_tokens=2000, cache_image_read_tokens=500,
               output_audio_tokens=1200, output_image_tokens=800),
    ]  # fmt: skip
    for _ in range(8):
        text, audio, image = rng.randint(1, 300_000), rng.choice([0, rng.randint(0, 50_000)]), rng.randint(0, 20_000)
        text_read, audio_read, image_read = rng.randint(0, text // 2), rng.randint(0, audio), rng.randint(0, image)
        write = rng.randint(0, text - text_read)
        out_text, out_audio, out_image = rng.randint(0, 20_000), rng.randint(0, 5000), rng.choice([0, 1000])
        usages.append(
            _usage(input_tokens=text + audio + image, cache_read_tokens=text_read + audio_read + image_read,
                   cache_write_tokens=write, cache_write_1h_tokens=rng.randint(0, write),
                   input_audio_tokens=audio, cache_audio_read_tokens=audio_read, input_image_tokens=image,
                   cache_image_read_tokens=image_read, output_tokens=out_text + out_audio + out_image,
                   output_reasoning_tokens=rng.randint(0, out_text), output_audio_tokens=out_audio,
                   output_image_tokens=out_image)
        )  # fmt: skip
    return usages


def _tier_of(context: dict[str, str]) -> str | None:
    """The service tier attribute value a span would carry to select this genai-prices variant."""
    if context == {"processing": "batch"}:
        return "batch"
    if list(context) == ["service_tier"]:
        return context["service_tier"]
    return None  # speed, route, search type: no span attribute selects these


def _cases() -> list[tuple[str, str, str | None, dict[str, str] | None]]:
    snapshot = data_snapshot.get_snapshot()
    cases: list[tuple[str, str, str | None, dict[str, str] | None]] = []
    for provider in snapshot.providers:
        if provider.id in PROVIDERS:
            for model in provider.models:
                cases.append((provider.id, model.id, None, None))
                for variant in model.price_variants or ():
                    tier = _tier_of(variant.when)
                    if tier is not None and (provider.id, model.id, tier, variant.when) not in cases:
                        cases.append((provider.id, model.id, tier, variant.when))
    return cases


def test_rate_plans_equal_calc_price_over_the_catalog() -> None:
    rng = random.Random(20261121)
    pricer = Pricer()
    compared = variants = 0
    failures: list[str] = []
    cases = _cases()
    assert len(cases) > 300  # the whole catalog of the major providers, not a hand-picked few
    usages = _usages(rng)
    for provider, model, tier, context in cases:
        for when in WHEN:
            for usage in [usages[4], *rng.sample(usages, 3)]:  # the audio/image usage every time
                cost = pricer.price(_record(model, provider, when, usage, tier))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        expected = calc_price(
                            Usage(**usage), model, provider_id=provider, genai_request_timestamp=when,
                            price_context=context,
                        )  # fmt: skip
                except (ValueError, LookupError) as exc:
                    # genai-prices refuses this usage for this model: so must we (never a made-up price).
                    if cost.pricing_status == PRICED:
                        failures.append(f"{provider}/{model} {usage}: calc_price raised {exc}, we priced")
                    continue
                compared += 1
                variants += tier is not None
                if cost.computed_cost_usd != expected.total_price:
                    failures.append(f"{provider}/{model} {tier} {when} {usage}: {cost.computed_cost_usd} != {expected}")
                    continue
                # The breakdown adds up, and its input/output halves match genai-prices' split.
                parts = [cost.input_cost_usd, cost.cache_read_cost_usd, cost.cache_write_cost_usd]
                assert (
                    sum(p or Decimal(0) for p in parts) + (cost.output_cost_usd or 0) + (cost.other_cost_usd or 0)
                    == expected.total_price
                )
                assert sum(p or Decimal(0) for p in parts) == expected.input_price
                assert cost.output_cost_usd == expected.output_price
    assert not failures, "\n".join(failures[:20])
    assert compared > 2000, compared
    assert variants > 300, variants  # service tiers and batch prices are compared too


@pytest.mark.parametrize(
    ("model", "provider", "usage", "expected"),
    [
        # gpt-4o-mini: $0.15/M input, $0.075/M cached read, $0.60/M output
        ("gpt-4o-mini", "openai", (1000, 100, 400, 0, 0), Decimal("0.00018")),
        # claude-sonnet-4-5 above 200k input: every token at the long-context rate ($6 in, $7.5 write, $22.5 out)
        ("claude-sonnet-4-5", "anthropic", (250_000, 1000, 0, 1000, 0), Decimal("1.524")),
        # same request under the tier: base rates (149k x $3 + 1k x $3.75 write + 1k x $15 out)
        ("claude-sonnet-4-5", "anthropic", (150_000, 1000, 0, 1000, 0), Decimal("0.46575")),
    ],
)
def test_known_prices(model: str, provider: str, usage: tuple[int, ...], expected: Decimal) -> None:
    keys = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "output_reasoning_tokens")
    record = _record(model, provider, WHEN[2], _usage(**dict(zip(keys, usage, strict=True))))
    assert Pricer().price(record).cost_usd == expected
