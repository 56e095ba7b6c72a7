"""Our cached rate plans must give exactly what genai-prices' calc_price gives, to the last digit."""

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


def _record(model: str, provider: str, when: datetime, usage: dict[str, int]) -> CallRecord:
    return CallRecord(
        trace_id="0" * 32, span_id="0" * 16, parent_span_id=None,
        start_time_ns=int(when.timestamp() * 1e9), end_time_ns=int(when.timestamp() * 1e9),
        span_name="chat", service_name=None, environment=None, provider=provider, operation="chat",
        request_model=model, response_model=None, response_id=None,
        input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"],
        cache_read_tokens=usage["cache_read_tokens"], cache_write_tokens=usage["cache_write_tokens"],
        reasoning_tokens=usage["output_reasoning_tokens"], user_id=None, conversation_id=None, agent_name=None,
        status_code="OK", error_type=None, reported_cost_usd=None,
    )  # fmt: skip


def _usages(rng: random.Random) -> list[dict[str, int]]:
    usages = [
        {"input_tokens": 1000, "output_tokens": 100, "cache_read_tokens": 0, "cache_write_tokens": 0,
         "output_reasoning_tokens": 0},
        # long context: past the 200k tiers, with every cache kind and reasoning
        {"input_tokens": 250_000, "output_tokens": 4000, "cache_read_tokens": 120_000, "cache_write_tokens": 30_000,
         "output_reasoning_tokens": 1500},
        # exactly at a tier start (tiers apply strictly above it)
        {"input_tokens": 200_000, "output_tokens": 1, "cache_read_tokens": 0, "cache_write_tokens": 0,
         "output_reasoning_tokens": 0},
        {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0,
         "output_reasoning_tokens": 0},
    ]  # fmt: skip
    for _ in range(6):
        total_in = rng.randint(1, 400_000)
        read = rng.randint(0, total_in // 2)
        write = rng.randint(0, total_in - read)
        out = rng.randint(0, 20_000)
        usages.append(
            {"input_tokens": total_in, "output_tokens": out, "cache_read_tokens": read,
             "cache_write_tokens": write, "output_reasoning_tokens": rng.randint(0, out)}
        )  # fmt: skip
    return usages


def _cases() -> list[tuple[str, str]]:
    snapshot = data_snapshot.get_snapshot()
    cases = []
    for provider in snapshot.providers:
        if provider.id in PROVIDERS:
            cases.extend((provider.id, model.id) for model in provider.models)
    return cases


def test_rate_plans_equal_calc_price_over_the_catalog() -> None:
    rng = random.Random(20261121)
    pricer = Pricer()
    compared = mismatches = 0
    failures: list[str] = []
    cases = _cases()
    assert len(cases) > 300  # the whole catalog of the major providers, not a hand-picked few
    usages = _usages(rng)
    for provider, model in cases:
        for when in WHEN:
            for usage in rng.sample(usages, 4):
                cost = pricer.price(_record(model, provider, when, usage))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        expected = calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=when)
                except (ValueError, LookupError) as exc:
                    # genai-prices refuses this usage for this model: so must we (never a made-up price).
                    if cost.pricing_status == PRICED:
                        failures.append(f"{provider}/{model} {usage}: calc_price raised {exc}, we priced")
                    continue
                compared += 1
                if cost.computed_cost_usd != expected.total_price:
                    mismatches += 1
                    failures.append(f"{provider}/{model} {when} {usage}: {cost.computed_cost_usd} != {expected}")
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
    record = _record(model, provider, WHEN[2], dict(zip(keys, usage, strict=True)))
    assert Pricer().price(record).cost_usd == expected
