"""Usage and cost carried as JSON text inside one attribute (Logfire, Langfuse)."""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import genai_prices

logger = logging.getLogger(__name__)

# Provider usage flavours genai-prices knows how to read, tried in order.
_FLAVOURS = {"openai": ("chat", "responses", "embeddings"), "google": ("default", "generate_content")}
_MAX_JSON = 64 * 1024  # a usage object is tiny; anything larger is not one


def _load(text: object) -> Mapping[str, Any] | None:
    if isinstance(text, str) and len(text) <= _MAX_JSON:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            return None
        return value if isinstance(value, Mapping) else None
    return None


def unreadable(text: object) -> str | None:
    """Why ``text`` is not a JSON usage object, in words; ``None`` when it is one."""
    if not isinstance(text, str):
        return f"a {type(text).__name__}, not JSON text"
    if len(text) > _MAX_JSON:
        return f"{len(text)} characters of JSON; a usage object is at most {_MAX_JSON}"
    if _load(text) is None:
        return "not a JSON object (malformed, or nested too deeply)"
    return None


def provider_usage(text: object, provider_id: str | None, model: str | None) -> dict[str, int] | None:
    """Token counts from a provider's own usage object (Logfire's ``gen_ai.usage.raw``).

    genai-prices' extractors know each provider's shape, including Anthropic's input that leaves
    the cache out, so the result follows the OTel conventions (input includes cache).
    """
    usage = _load(text)
    if usage is None or provider_id is None:
        return None
    for flavour in _FLAVOURS.get(provider_id, ("default",)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                extracted = genai_prices.extract_usage(
                    {"usage": usage, "model": model or ""}, provider_id=provider_id, api_flavor=flavour
                )
        except Exception:  # third-party code reading untrusted JSON: any failure means "not this shape"
            continue
        counts = {
            key: int(value)
            for key in (
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "cache_write_1h_tokens",
                "output_reasoning_tokens",
                "input_audio_tokens",
                "cache_audio_read_tokens",
                "output_audio_tokens",
                "input_image_tokens",
                "cache_image_read_tokens",
                "output_image_tokens",
            )
            if isinstance(value := extracted.usage.__dict__.get(key), int)
        }
        if counts:
            return counts
    return None


def langfuse_usage(text: object, model: str | None) -> dict[str, int] | None:
    """Token counts from Langfuse's ``usage_details``.

    Two shapes occur. Langfuse's drop-in OpenAI client passes OpenAI's own usage object through
    (``prompt_tokens`` with nested ``*_details``); genai-prices reads that. Otherwise the keys are
    Langfuse's, which it prices one by one, so they are disjoint parts: ``input`` is the uncached
    input, and cache keys (``cache_read_input_tokens``, ``input_cached_tokens``, ...) add to it.
    """
    details = _load(text)
    if details is None:
        return None
    if "prompt_tokens" in details or "completion_tokens" in details:
        return provider_usage(text, "openai", model)
    counts: dict[str, int] = {}

    def add(key: str, value: int) -> None:
        counts[key] = counts.get(key, 0) + value

    for key, value in details.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or key == "total":
            continue
        name = key.lower()
        if "cache" in name and ("write" in name or "creation" in name):
            add("cache_write_tokens", value)
            add("input_tokens", value)
        elif "cache" in name:
            add("cache_read_tokens", value)
            add("input_tokens", value)
        elif "reasoning" in name:
            add("output_reasoning_tokens", value)
            add("output_tokens", value)
        elif name.startswith(("input", "prompt")):
            add("input_tokens", value)
        elif name.startswith(("output", "completion")):
            add("output_tokens", value)
    return counts or None


def langfuse_total_cost(text: object) -> Decimal | None:
    """The total of Langfuse's ``cost_details`` (its ``total`` key, else the sum of the parts)."""
    details = _load(text)
    if details is None:
        return None
    values = {k: v for k, v in details.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not values or not all(math.isfinite(v) and v >= 0 for v in values.values()):
        return None
    try:
        if "total" in values:
            return Decimal(repr(values["total"]))
        return sum((Decimal(repr(v)) for v in values.values()), Decimal(0))
    except InvalidOperation:
        return None
