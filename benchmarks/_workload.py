"""Deterministic workloads: the span attributes and finished spans every figure is measured on.

Everything is derived from a seeded ``random.Random``, so two runs price and store the same calls.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

RESOURCE = Resource.create({"service.name": "bench-svc", "deployment.environment.name": "bench"})

# Figure 1: one typical LLM span, exactly as the issue describes it.
LLM_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 350,
}


def llm_attribute_pool(size: int = 997) -> list[dict[str, Any]]:
    """Figure 1's span with ``size`` different usages, used in turn.

    The attribute keys and the model are the issue's; only the token counts vary, as they do in
    real traffic. (Identical usage on every span would also measure the duplicate detector's
    handling of look-alike calls, which has a figure of its own.)
    """
    rng = random.Random(1)
    return [
        {
            **LLM_ATTRIBUTES,
            "gen_ai.usage.input_tokens": rng.randint(50, 5_000),
            "gen_ai.usage.output_tokens": rng.randint(1, 1_000),
        }
        for _ in range(size)
    ]


# Figure 2: an ordinary HTTP client span (no GenAI attribute at all).
HTTP_ATTRIBUTES: dict[str, Any] = {
    "http.request.method": "GET",
    "url.full": "https://api.example.com/v1/orders/12345?expand=items",
    "url.scheme": "https",
    "server.address": "api.example.com",
    "server.port": 443,
    "http.response.status_code": 200,
    "network.protocol.version": "1.1",
    "user_agent.original": "python-httpx/0.28.1",
}


@dataclass(frozen=True)
class ModelSpec:
    """One model of the mix: what a span reports, and which token kinds it tends to carry."""

    provider: str  # gen_ai.provider.name as instrumentation emits it
    price_provider: str  # the genai-prices provider id the same call is priced under
    request_model: str
    response_model: str | None = None
    operation: str = "chat"
    cache_read: bool = False
    cache_write: bool = False
    reasoning: bool = False
    long_context: bool = False  # has a >200k-token price tier worth exercising


# ~20 models across OpenAI, Anthropic and Google: flat, tiered (long context), conditional
# (effective-dated) prices, cache reads and writes, reasoning and an embeddings model.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("openai", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", cache_read=True),
    ModelSpec("openai", "openai", "gpt-4o", "gpt-4o-2024-08-06", cache_read=True),
    ModelSpec("openai", "openai", "gpt-4.1", "gpt-4.1-2025-04-14", cache_read=True),
    ModelSpec("openai", "openai", "gpt-5-mini", None, cache_read=True, reasoning=True),
    ModelSpec("openai", "openai", "o3", "o3-2025-04-16", cache_read=True, reasoning=True),
    ModelSpec("openai", "openai", "o4-mini", None, cache_read=True, reasoning=True),
    ModelSpec("openai", "openai", "gpt-5.4", None, cache_read=True, reasoning=True, long_context=True),
    ModelSpec("openai", "openai", "gpt-5.6-sol", None, cache_read=True, reasoning=True, long_context=True),
    ModelSpec("openai", "openai", "gpt-6-sol", None, cache_read=True, cache_write=True, long_context=True),
    ModelSpec("openai", "openai", "text-embedding-3-small", None, operation="embeddings"),
    ModelSpec(
        "anthropic",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        cache_read=True,
        cache_write=True,
        long_context=True,
    ),
    ModelSpec(
        "anthropic", "anthropic", "claude-sonnet-4-6", None, cache_read=True, cache_write=True, long_context=True
    ),
    ModelSpec(
        "anthropic", "anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", cache_read=True, cache_write=True
    ),
    ModelSpec("anthropic", "anthropic", "claude-opus-4-1", None, cache_read=True, cache_write=True, reasoning=True),
    ModelSpec("anthropic", "anthropic", "claude-3-5-haiku-latest", None, cache_read=True, cache_write=True),
    ModelSpec("gcp.gemini", "google", "gemini-2.5-pro", None, cache_read=True, reasoning=True, long_context=True),
    ModelSpec("gcp.gemini", "google", "gemini-2.5-flash", None, cache_read=True, reasoning=True),
    ModelSpec("gcp.gemini", "google", "gemini-2.0-flash", None, cache_read=True),
    ModelSpec("gcp.gemini", "google", "gemini-3-pro-preview", None, cache_read=True, reasoning=True, long_context=True),
    ModelSpec("gcp.gemini", "google", "gemini-4-argon", None),
)

_UTC = timezone.utc
# Days around the catalog's effective-dated price changes (o3 2025-06-10, claude-*-4-6 2026-03-13,
# gpt-5.6-sol 2026-08-21, gemini-4-argon 2026-12-01), so pricing at the span's start time matters.
PRICING_DAYS: tuple[datetime, ...] = (
    datetime(2025, 6, 9, 23, 59, 30, tzinfo=_UTC),
    datetime(2025, 6, 10, 0, 0, 30, tzinfo=_UTC),
    datetime(2026, 3, 12, 12, 0, tzinfo=_UTC),
    datetime(2026, 3, 13, 12, 0, tzinfo=_UTC),
    datetime(2026, 8, 20, 8, 0, tzinfo=_UTC),
    datetime(2026, 8, 21, 8, 0, tzinfo=_UTC),
    datetime(2026, 11, 30, 23, 0, tzinfo=_UTC),
    datetime(2026, 12, 1, 1, 0, tzinfo=_UTC),
)
# Live ingest: spans from one busy hour of one day.
INGEST_START = datetime(2026, 11, 1, 9, 0, tzinfo=_UTC)


def _ns(when: datetime) -> int:
    return int(when.timestamp()) * 10**9


def llm_attributes(spec: ModelSpec, rng: random.Random) -> dict[str, Any]:
    """GenAI attributes of one call to ``spec``'s model, with a plausible random usage."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": spec.operation,
        "gen_ai.provider.name": spec.provider,
        "gen_ai.request.model": spec.request_model,
    }
    if spec.response_model:
        attributes["gen_ai.response.model"] = spec.response_model
    roll = rng.random()
    if spec.long_context and roll < 0.15:
        input_tokens = rng.randint(200_001, 400_000)  # above every long-context threshold's start
    elif roll < 0.5:
        input_tokens = rng.randint(20, 4_000)
    else:
        input_tokens = rng.randint(4_000, 150_000)
    attributes["gen_ai.usage.input_tokens"] = input_tokens
    if spec.operation == "embeddings":
        return attributes
    output_tokens = rng.randint(1, 8_000)
    cache_read = cache_write = 0
    if spec.cache_read and rng.random() < 0.5:
        cache_read = rng.randint(0, input_tokens // 2)
        attributes["gen_ai.usage.cache_read.input_tokens"] = cache_read
    if spec.cache_write and rng.random() < 0.4:
        cache_write = rng.randint(0, input_tokens // 3)
        # Both spellings are in use; the conventions module reads either.
        key = (
            "gen_ai.usage.cache_creation.input_tokens"
            if rng.random() < 0.5
            else "gen_ai.usage.cache_write.input_tokens"
        )
        attributes[key] = cache_write
        if spec.provider == "anthropic" and rng.random() < 0.3:
            # Anthropic's 1-hour cache writes are priced apart from 5-minute ones.
            attributes["anthropic.usage.cache_creation.ephemeral_1h_input_tokens"] = rng.randint(0, cache_write)
    if (cache_read or cache_write) and rng.random() < 0.2:
        # Libraries that report only the uncached input (input < cache parts): normalised on read.
        attributes["gen_ai.usage.input_tokens"] = rng.randint(0, max(0, cache_read + cache_write - 1))
    if spec.reasoning and rng.random() < 0.7:
        reasoning = rng.randint(0, output_tokens)
        attributes["gen_ai.usage.reasoning.output_tokens"] = reasoning
    attributes["gen_ai.usage.output_tokens"] = output_tokens
    return attributes


def make_spans(
    count: int,
    *,
    seed: int,
    start_times_ns: list[int] | None = None,
    same_attributes: dict[str, Any] | None = None,
) -> list[ReadableSpan]:
    """``count`` finished LLM spans over the model mix, built as the SDK builds them.

    Attributes are immutable ``BoundedAttributes`` and ids are unique random 128/64-bit values, so
    the spans read exactly like the ones ``span.end()`` hands to a processor. With
    ``same_attributes``, every span carries those (look-alike calls: same model, same usage).
    """
    rng = random.Random(seed)
    base_ns = _ns(INGEST_START)
    spans: list[ReadableSpan] = []
    for index in range(count):
        spec = MODELS[index % len(MODELS)]
        attributes = dict(same_attributes) if same_attributes is not None else llm_attributes(spec, rng)
        if start_times_ns is not None:
            start_ns = start_times_ns[index % len(start_times_ns)] + rng.randint(0, 10**9)
        else:
            start_ns = base_ns + rng.randint(0, 3600 * 10**9)
        trace_id = rng.getrandbits(128) or 1
        parent_id = rng.getrandbits(64) or 1
        span_id = rng.getrandbits(64) or 1
        sampled = TraceFlags(TraceFlags.SAMPLED)
        spans.append(
            ReadableSpan(
                name=f"{attributes['gen_ai.operation.name']} {attributes['gen_ai.request.model']}",
                context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=sampled),
                parent=SpanContext(trace_id, parent_id, is_remote=False, trace_flags=sampled),
                resource=RESOURCE,
                attributes=BoundedAttributes(attributes=attributes, immutable=True),
                kind=SpanKind.CLIENT,
                start_time=start_ns,
                end_time=start_ns + rng.randint(50, 30_000) * 10**6,
            )
        )
    return spans


def pricing_start_times_ns() -> list[int]:
    return [_ns(day) for day in PRICING_DAYS]
