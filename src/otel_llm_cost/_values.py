"""Reading attribute values safely: token counts, text labels and reported costs.

Span attributes are written by other people's code. Every value is checked: a count must be a
whole, non-negative, plausible number; a label is text, trimmed and bounded; a reported cost is a
finite, plausible USD amount. What fails a check is reported in words, never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from otel_llm_cost import _dialects as d
from otel_llm_cost import _usage_json
from otel_llm_cost import attributes as a

# A single call with more tokens than this is not a real count (context windows are ~10^7).
MAX_TOKENS = 10**12
# A single call reported as costing more than this is not a real cost; it is flagged, not summed.
MAX_REPORTED_COST_USD = Decimal(10_000)
_MAX_TEXT = 512  # longer identifiers are truncated: they are labels, not payloads
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_token_count(value: object) -> int:
    """Return a token count as an int, or raise ValueError saying what is wrong with it.

    Accepts ints, integral floats (JSON round trips turn 12 into 12.0) and digit strings.
    Rejects booleans, negatives, fractions, NaN, infinities and counts above :data:`MAX_TOKENS`.
    """
    if isinstance(value, bool):
        raise ValueError(f"boolean {value!r} is not a token count")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number of tokens")
        count = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        count = int(value.strip())
    else:
        raise ValueError(f"{_preview(value)} is not a token count")
    if count < 0:
        raise ValueError(f"negative token count {count}")
    if count > MAX_TOKENS:
        raise ValueError(f"token count {count} exceeds {MAX_TOKENS}")
    return count


def first_count(attributes: Mapping[str, Any], names: tuple[str, ...], errors: list[str]) -> int | None:
    for name in names:
        if name in attributes:
            try:
                return parse_token_count(attributes[name])
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                return None
    return None


def first_text(attributes: Mapping[str, object], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attributes.get(name)
        if value is not None:
            text = text_of(value)
            if text:
                return text
    return None


def text_of(value: object) -> str | None:
    """A label as stored: text trimmed of surrounding whitespace and cut to 512 characters.

    Everything else is kept verbatim, control characters and NUL included (DuckDB's VARCHAR and
    Arrow strings hold them, and a label is data, not markup). Only lone surrogates, which no UTF-8
    string can hold, become U+FFFD: left in, they would fail the whole batch's Arrow conversion.
    """
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    return utf8_safe(text[:_MAX_TEXT]) or None


def test_id_of(value: object) -> str | None:
    # Not text_of(): a node id is matched exactly against pytest's, so it is never trimmed or truncated.
    return utf8_safe(value) if isinstance(value, str) and value else None


def utf8_safe(text: str) -> str:
    """``text`` with each surrogate code point (invalid in UTF-8) replaced by U+FFFD."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing more
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def reported_cost(attributes: Mapping[str, Any], errors: list[str]) -> Decimal | None:
    """A cost the emitter computed itself, in USD. Untrusted: absurd values are flagged, not kept."""
    currency = attributes.get(a.GEN_AI_USAGE_COST_CURRENCY, "USD")
    for name in d.REPORTED_COST:
        amount = attributes.get(name)
        if amount is None:
            continue
        if name == a.GEN_AI_USAGE_COST_AMOUNT and currency != "USD":
            return None  # another currency: not comparable without a rate we do not have
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
            errors.append(f"{name}: {_preview(amount)} is not a cost")
            return None
        # repr() keeps the float's shortest decimal form: 0.1 stays 0.1, not 0.1000000000000000055...
        return _checked_cost(name, Decimal(repr(amount)), errors)
    if d.LANGFUSE_COST_DETAILS in attributes:
        cost = _usage_json.langfuse_total_cost(attributes[d.LANGFUSE_COST_DETAILS])
        return None if cost is None else _checked_cost(d.LANGFUSE_COST_DETAILS, cost, errors)
    return None


def _checked_cost(name: str, cost: Decimal, errors: list[str]) -> Decimal | None:
    if cost < 0 or cost > MAX_REPORTED_COST_USD:
        errors.append(f"{name}: reported cost {cost} is outside 0..{MAX_REPORTED_COST_USD} USD")
        return None
    return cost


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
