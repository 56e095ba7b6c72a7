"""Turn a finished span into one canonical :class:`CallRecord`, whatever attribute dialect it uses.

Two entry points, for two threads:

* :func:`looks_like_llm_call` runs on the application's thread inside ``on_end``. It only asks
  whether any GenAI marker attribute is present, so an HTTP or database span is rejected with one
  set-membership scan and nothing else.
* :func:`to_call_record` runs on the worker thread. It reads every spelling of every concept,
  sanitises token counts, and decides whether the span *is* a provider call or only an aggregate
  (agent, workflow and tool spans that repeat their children's usage).

Dialects are tables of attribute names, tried in order; later issues add a table per library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_llm_cost import attributes as a

# Any of these on a span marks it as worth a look on the worker thread.
_MARKERS = frozenset(
    {
        a.GEN_AI_OPERATION_NAME,
        a.GEN_AI_PROVIDER_NAME,
        a.GEN_AI_SYSTEM,
        a.GEN_AI_REQUEST_MODEL,
        a.GEN_AI_RESPONSE_MODEL,
        a.GEN_AI_USAGE_INPUT_TOKENS,
        a.GEN_AI_USAGE_OUTPUT_TOKENS,
        a.GEN_AI_USAGE_PROMPT_TOKENS,
        a.GEN_AI_USAGE_COMPLETION_TOKENS,
    }
)

# Each concept lists its attribute names, newest first; the first one present wins.
_PROVIDER = (a.GEN_AI_PROVIDER_NAME, a.GEN_AI_SYSTEM)
_INPUT_TOKENS = (a.GEN_AI_USAGE_INPUT_TOKENS, a.GEN_AI_USAGE_PROMPT_TOKENS)
_OUTPUT_TOKENS = (a.GEN_AI_USAGE_OUTPUT_TOKENS, a.GEN_AI_USAGE_COMPLETION_TOKENS)
_CACHE_READ_TOKENS = (a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,)
_CACHE_WRITE_TOKENS = (a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
_REASONING_TOKENS = (a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,)
_USER_ID = (a.USER_ID, a.ENDUSER_ID)
_ENVIRONMENT = (a.DEPLOYMENT_ENVIRONMENT_NAME, a.DEPLOYMENT_ENVIRONMENT)

# A single call with more tokens than this is not a real count (context windows are ~10^7).
MAX_TOKENS = 10**12
_MAX_TEXT = 512  # longer identifiers are truncated: they are labels, not payloads


def looks_like_llm_call(attributes: Mapping[str, Any] | None) -> bool:
    """Return True when a span carries any GenAI attribute. Cheap enough for the app's thread."""
    return bool(attributes) and not _MARKERS.isdisjoint(attributes)  # type: ignore[arg-type]


@dataclass(slots=True)
class CallRecord:
    """One span, normalised. Token counts follow the OTel GenAI conventions:

    ``input_tokens`` includes cache reads and writes; ``output_tokens`` includes reasoning.
    A count the span did not report is ``None``; an invalid one is ``None`` too, and
    ``usage_error`` says why.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_time_ns: int
    end_time_ns: int
    span_name: str
    service_name: str | None
    environment: str | None
    provider: str | None
    operation: str | None
    request_model: str | None
    response_model: str | None
    response_id: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    user_id: str | None
    conversation_id: str | None
    agent_name: str | None
    status_code: str
    error_type: str | None
    reported_cost_usd: Decimal | None
    usage_error: str | None = None
    # True when the library reported input without its cache tokens and we added them back.
    input_excluded_cache: bool = False

    @property
    def has_usage(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


def is_provider_call(attributes: Mapping[str, Any]) -> bool:
    """Decide whether a span reports its own provider call (True) or is an aggregate (False).

    Agent, workflow and tool spans may carry the summed usage of their children; pricing them would
    count every token twice. Spans without an operation name are judged by their usage alone.
    """
    operation = attributes.get(a.GEN_AI_OPERATION_NAME)
    if isinstance(operation, str) and operation in a.AGGREGATE_OPERATIONS:
        return False
    if isinstance(operation, str) and operation in a.CALL_OPERATIONS:
        return True
    # Unknown or missing operation: a call if it names a model or reports usage.
    return any(key in attributes for key in (*_INPUT_TOKENS, *_OUTPUT_TOKENS, a.GEN_AI_REQUEST_MODEL))


def to_call_record(span: ReadableSpan) -> CallRecord | None:
    """Normalise one finished span; ``None`` when it is not a provider call."""
    attributes: Mapping[str, Any] = span.attributes or {}
    context = span.context
    if context is None or not is_provider_call(attributes):
        return None
    resource_attributes: Mapping[str, Any] = span.resource.attributes if span.resource else {}

    errors: list[str] = []
    input_tokens = _first_count(attributes, _INPUT_TOKENS, errors)
    output_tokens = _first_count(attributes, _OUTPUT_TOKENS, errors)
    cache_read = _first_count(attributes, _CACHE_READ_TOKENS, errors)
    cache_write = _first_count(attributes, _CACHE_WRITE_TOKENS, errors)
    reasoning = _first_count(attributes, _REASONING_TOKENS, errors)

    # The conventions count cache tokens inside input_tokens. Some libraries report only the
    # uncached part; when input is smaller than its own cache parts, that is what happened.
    input_excluded_cache = False
    cached = (cache_read or 0) + (cache_write or 0)
    if input_tokens is not None and cached > input_tokens:
        input_tokens += cached
        input_excluded_cache = True
    elif input_tokens is None and cached:
        input_tokens = cached
    # Reasoning is part of output; a library that reports it apart gets it added back.
    if output_tokens is not None and reasoning is not None and reasoning > output_tokens:
        output_tokens += reasoning
    elif output_tokens is None and reasoning:
        output_tokens = reasoning

    status = span.status.status_code if span.status else StatusCode.UNSET
    parent = span.parent
    return CallRecord(
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        parent_span_id=format(parent.span_id, "016x") if parent is not None else None,
        start_time_ns=span.start_time or 0,
        end_time_ns=span.end_time or span.start_time or 0,
        span_name=_text(span.name) or "",
        service_name=_first_text(resource_attributes, (a.SERVICE_NAME,)),
        environment=_first_text(resource_attributes, _ENVIRONMENT) or _first_text(attributes, _ENVIRONMENT),
        provider=_first_text(attributes, _PROVIDER),
        operation=_first_text(attributes, (a.GEN_AI_OPERATION_NAME,)),
        request_model=_first_text(attributes, (a.GEN_AI_REQUEST_MODEL,)),
        response_model=_first_text(attributes, (a.GEN_AI_RESPONSE_MODEL,)),
        response_id=_first_text(attributes, (a.GEN_AI_RESPONSE_ID,)),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        user_id=_first_text(attributes, _USER_ID),
        conversation_id=_first_text(attributes, (a.GEN_AI_CONVERSATION_ID,)),
        agent_name=_first_text(attributes, (a.GEN_AI_AGENT_NAME,)),
        status_code=status.name,
        error_type=_first_text(attributes, (a.ERROR_TYPE,)),
        reported_cost_usd=_reported_cost(attributes),
        usage_error="; ".join(errors) or None,
        input_excluded_cache=input_excluded_cache,
    )


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


def _first_count(attributes: Mapping[str, Any], names: tuple[str, ...], errors: list[str]) -> int | None:
    for name in names:
        if name in attributes:
            try:
                return parse_token_count(attributes[name])
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                return None
    return None


def _first_text(attributes: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attributes.get(name)
        if value is not None:
            text = _text(value)
            if text:
                return text
    return None


def _text(value: object) -> str | None:
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    return text[:_MAX_TEXT] or None


def _reported_cost(attributes: Mapping[str, Any]) -> Decimal | None:
    """A cost the emitter computed itself (proposed ``gen_ai.usage.cost.*``), in USD only."""
    amount = attributes.get(a.GEN_AI_USAGE_COST_AMOUNT)
    currency = attributes.get(a.GEN_AI_USAGE_COST_CURRENCY, "USD")
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or currency != "USD":
        return None
    if not math.isfinite(amount) or amount < 0:
        return None
    # repr() keeps the float's shortest decimal form: 0.1 stays 0.1, not 0.1000000000000000055...
    return Decimal(repr(amount))


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
