"""Turn a finished span into one canonical :class:`CallRecord`, whatever attribute dialect it uses.

Two entry points, for two threads:

* :func:`looks_like_llm_call` runs on the application's thread inside ``on_end``. It only asks
  whether any GenAI marker attribute is present, so an HTTP or database span is rejected with one
  set-membership scan and nothing else.
* :func:`to_call_record` runs on the worker thread. It reads every spelling of every concept (the
  tables are in ``_dialects``), sanitises token counts, and decides whether the span *is* a
  provider call or only an aggregate (agent, workflow, chain and tool spans that repeat their
  children's usage).

Token counts are normalised to the OTel GenAI conventions: ``input_tokens`` includes cache reads
and writes, ``output_tokens`` includes reasoning, whatever the library reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, StatusCode

from otel_llm_cost import _dialects as d
from otel_llm_cost import _usage_json
from otel_llm_cost import attributes as a
from otel_llm_cost._providers import catalog_provider_id
from otel_llm_cost._values import first_count, first_text, parse_token_count, reported_cost, test_id_of, text_of

_MARKERS = d.MARKERS
_MIN_NS, _MAX_NS = -(2**63), 2**63 - 1


def looks_like_llm_call(attributes: Mapping[str, Any] | None) -> bool:
    """Return True when a span carries any GenAI attribute. Cheap enough for the app's thread."""
    return bool(attributes) and not _MARKERS.isdisjoint(attributes)  # type: ignore[arg-type]


@dataclass(slots=True)
class StoredSpan:
    """What every stored span has, calls and runs alike: identity, time and where it came from."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_time_ns: int
    end_time_ns: int
    span_name: str
    service_name: str | None


@dataclass(slots=True)
class CallRecord(StoredSpan):
    """One span, normalised. A count the span did not report is ``None`` (never guessed as 0); an
    invalid one is ``None`` too, and ``usage_error`` says why."""

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
    cache_write_1h_tokens: int | None = None
    customer_id: str | None = None
    scope_name: str | None = None
    # Why a cost the span carried was not kept (negative, absurd, not a number).
    reported_cost_error: str | None = None
    # (trace_id, span_id) of the span already counting this provider call; set by the exporter.
    duplicate_of: tuple[str, str] | None = None
    # The pytest node id the pytest plugin stamped on the span (otel_llm_cost.test_id).
    test_id: str | None = None
    # Attributes the user chose to keep (store_attributes), redacted, as JSON text; set by the exporter.
    attributes: str | None = None
    # Modality details, each a subset of input_tokens / output_tokens (cache reads of a modality
    # are a subset of both it and cache_read_tokens). Priced apart where the catalog has a rate.
    input_audio_tokens: int | None = None
    cache_audio_read_tokens: int | None = None
    output_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    cache_image_read_tokens: int | None = None
    output_image_tokens: int | None = None
    # The service tier the provider says served the call (priority, flex, batch, ...): it selects
    # the catalog's price variant.
    service_tier: str | None = None

    @property
    def has_usage(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


@dataclass(slots=True)
class AgentRun(StoredSpan):
    """An agent, workflow or multi-step span: not a call, but the unit users ask "what did it cost" of."""

    run_kind: str
    agent_name: str | None
    conversation_id: str | None
    user_id: str | None
    status_code: str
    reported_input_tokens: int | None
    reported_output_tokens: int | None


def run_kind(attributes: Mapping[str, Any]) -> str | None:
    """The dialect's name for a run span (``invoke_agent``, ``AGENT``, ``workflow``, ...), else None."""
    for name, kinds in (
        (a.GEN_AI_OPERATION_NAME, d.RUN_OPERATIONS),
        (d.OPENINFERENCE_SPAN_KIND, d.OPENINFERENCE_RUN_KINDS),
        (d.TRACELOOP_SPAN_KIND, d.TRACELOOP_RUN_KINDS),
        (d.VERCEL_OPERATION_ID, d.VERCEL_AGGREGATE_OPERATIONS),
        (d.LANGFUSE_OBSERVATION_TYPE, d.LANGFUSE_RUN_TYPES),
    ):
        value = attributes.get(name)
        if _is_in(value, kinds):
            return str(value)
    return None


def to_agent_run(span: ReadableSpan) -> AgentRun | None:
    """Normalise a run span (see :func:`run_kind`); ``None`` for any other span."""
    attributes: Mapping[str, Any] = span.attributes or {}
    kind = run_kind(attributes)
    context = span.context
    if kind is None or context is None:
        return None
    resource = _resource_attributes(span)
    ignored: list[str] = []  # a run's own usage is a cross-check only; bad values are just left out
    return AgentRun(
        **_identity(span, context, resource),
        run_kind=kind,
        agent_name=first_text(attributes, d.AGENT_NAME),
        conversation_id=first_text(attributes, d.CONVERSATION_ID),
        user_id=first_text(attributes, d.USER_ID) or first_text(resource, d.USER_ID),
        status_code=(span.status.status_code if span.status else StatusCode.UNSET).name,
        reported_input_tokens=first_count(attributes, d.AGGREGATED_INPUT_TOKENS, ignored),
        reported_output_tokens=first_count(attributes, d.AGGREGATED_OUTPUT_TOKENS, ignored),
    )


def is_provider_call(attributes: Mapping[str, Any]) -> bool:
    """Decide whether a span reports its own provider call (True) or is an aggregate (False).

    Pricing an agent span that repeats its children's usage would count every token twice, so
    every dialect's way of saying "agent", "chain", "workflow" or "tool" rules a span out.
    """
    operation = attributes.get(a.GEN_AI_OPERATION_NAME)
    if _is_in(operation, a.AGGREGATE_OPERATIONS):
        return False
    kind = attributes.get(d.OPENINFERENCE_SPAN_KIND)
    if kind is not None and not _is_in(kind, d.OPENINFERENCE_CALL_KINDS):
        return False
    if _is_in(attributes.get(d.TRACELOOP_SPAN_KIND), d.TRACELOOP_AGGREGATE_KINDS):
        return False
    if _is_in(attributes.get(d.VERCEL_OPERATION_ID), d.VERCEL_AGGREGATE_OPERATIONS):
        return False
    observation = attributes.get(d.LANGFUSE_OBSERVATION_TYPE)
    if observation is not None and not _is_in(observation, d.LANGFUSE_CALL_TYPES):
        return False
    if _is_in(operation, a.CALL_OPERATIONS) or kind is not None or observation is not None:
        return True
    # No operation named: a call if it names a model or reports usage of its own.
    return any(name in attributes for name in (*d.INPUT_TOKENS, *d.OUTPUT_TOKENS, *d.REQUEST_MODEL, *d.RESPONSE_MODEL))


def to_call_record(span: ReadableSpan, baggage: Mapping[str, object] | None = None) -> CallRecord | None:
    """Normalise one finished span; ``None`` when it is not a provider call.

    ``baggage`` is the OTel baggage current when the span ended: user, session and customer ids
    the app put there fill in what the span's own attributes leave out.
    """
    # One copy into a plain dict: the span's own mapping answers every lookup in Python code,
    # and a call is looked up ~50 times across the dialect tables.
    attributes: Mapping[str, Any] = dict(span.attributes or {})
    baggage = baggage or {}
    context = span.context
    if context is None or not is_provider_call(attributes):
        return None
    resource = _resource_attributes(span)
    scope = span.instrumentation_scope.name if span.instrumentation_scope else None
    provider = first_text(attributes, d.PROVIDER)
    request_model = first_text(attributes, d.REQUEST_MODEL)
    response_model = first_text(attributes, d.RESPONSE_MODEL)

    errors: list[str] = []
    cost_errors: list[str] = []
    usage = _usage(attributes, errors, provider, response_model or request_model)
    input_tokens, cache_read, cache_write = usage["input"], usage["cache_read"], usage["cache_write"]
    output_tokens, reasoning = usage["output"], usage["reasoning"]
    status = span.status.status_code if span.status else StatusCode.UNSET
    if (
        input_tokens is None
        and output_tokens is None
        and status is not StatusCode.ERROR
        and scope is not None
        and scope.startswith(d.USAGE_ELSEWHERE_SCOPES)
    ):
        return None

    # The conventions count cache tokens inside input_tokens. Some libraries report only the
    # uncached part: known ones by scope, the rest when input is smaller than its own cache parts.
    cached = (cache_read or 0) + (cache_write or 0)
    input_excluded_cache = False
    if input_tokens is not None and cached:
        if usage["uncached_input"] is not None:
            input_excluded_cache = input_tokens == usage["uncached_input"]
            input_tokens = usage["uncached_input"] + cached
        elif _excludes_cache(scope, provider) or cached > input_tokens:
            input_tokens += cached
            input_excluded_cache = True
    elif input_tokens is None and cached:
        input_tokens = cached
    # Reasoning is part of output; a library that reports it apart gets it added back.
    if output_tokens is not None and reasoning is not None and reasoning > output_tokens:
        output_tokens += reasoning
    elif output_tokens is None and reasoning:
        output_tokens = reasoning

    return CallRecord(
        **_identity(span, context, resource),
        environment=first_text(resource, d.ENVIRONMENT) or first_text(attributes, d.ENVIRONMENT),
        provider=provider,
        operation=first_text(attributes, (a.GEN_AI_OPERATION_NAME,)),
        request_model=request_model,
        response_model=response_model,
        response_id=first_text(attributes, (a.GEN_AI_RESPONSE_ID,)),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        user_id=first_text(attributes, d.USER_ID) or first_text(baggage, d.USER_ID) or first_text(resource, d.USER_ID),
        conversation_id=first_text(attributes, d.CONVERSATION_ID) or first_text(baggage, d.CONVERSATION_ID),
        agent_name=first_text(attributes, d.AGENT_NAME),
        status_code=status.name,
        error_type=first_text(attributes, (a.ERROR_TYPE,)),
        reported_cost_usd=reported_cost(attributes, cost_errors),
        usage_error="; ".join(errors) or None,
        input_excluded_cache=input_excluded_cache,
        cache_write_1h_tokens=usage["cache_write_1h"],
        customer_id=first_text(attributes, d.CUSTOMER_ID) or first_text(baggage, d.CUSTOMER_ID),
        scope_name=text_of(scope) if scope else None,
        reported_cost_error="; ".join(cost_errors) or None,
        test_id=test_id_of(attributes.get(a.LLM_COST_TEST_ID)),
        input_audio_tokens=usage["input_audio"],
        cache_audio_read_tokens=usage["cache_audio_read"],
        output_audio_tokens=usage["output_audio"],
        input_image_tokens=usage["input_image"],
        cache_image_read_tokens=usage["cache_image_read"],
        output_image_tokens=usage["output_image"],
        service_tier=first_text(attributes, d.SERVICE_TIER),
    )


def _identity(span: ReadableSpan, context: SpanContext, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`StoredSpan` fields of a span."""
    parent = span.parent
    start_ns = span.start_time or 0
    end_ns = span.end_time or start_ns
    if not (_MIN_NS <= start_ns <= _MAX_NS and _MIN_NS <= end_ns <= _MAX_NS):
        # The column is an int64 of nanoseconds: one such value would fail the whole batch's write,
        # so this span alone is refused (the exporter counts it as malformed).
        raise ValueError(f"span times {start_ns}..{end_ns} are not int64 nanoseconds")
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
        "start_time_ns": start_ns,
        "end_time_ns": end_ns,
        "span_name": text_of(span.name) or "",
        "service_name": first_text(resource, (a.SERVICE_NAME,)),
    }


_resources: dict[int, tuple[object, Mapping[str, Any]]] = {}


def _resource_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's resource attributes as a plain dict, copied once per resource (they are shared
    by every span of a TracerProvider). The cache holds the resource so its id is not reused."""
    resource = span.resource
    if resource is None:
        return {}
    cached = _resources.get(id(resource))
    if cached is not None and cached[0] is resource:
        return cached[1]
    if len(_resources) > 1024:  # many short-lived providers: start over rather than grow
        _resources.clear()
    attributes = dict(resource.attributes)
    _resources[id(resource)] = (resource, attributes)
    return attributes


def _usage(
    attributes: Mapping[str, Any], errors: list[str], provider: str | None, model: str | None
) -> dict[str, int | None]:
    usage: dict[str, int | None] = {
        "input": first_count(attributes, d.INPUT_TOKENS, errors),
        "output": first_count(attributes, d.OUTPUT_TOKENS, errors),
        "cache_read": first_count(attributes, d.CACHE_READ_TOKENS, errors),
        "cache_write": first_count(attributes, d.CACHE_WRITE_TOKENS, errors),
        "cache_write_1h": first_count(attributes, d.CACHE_WRITE_1H_TOKENS, errors),
        "reasoning": first_count(attributes, d.REASONING_TOKENS, errors),
        "uncached_input": first_count(attributes, d.UNCACHED_INPUT_TOKENS, errors),
        "input_audio": first_count(attributes, d.INPUT_AUDIO_TOKENS, errors),
        "cache_audio_read": first_count(attributes, d.CACHE_AUDIO_READ_TOKENS, errors),
        "output_audio": first_count(attributes, d.OUTPUT_AUDIO_TOKENS, errors),
        "input_image": first_count(attributes, d.INPUT_IMAGE_TOKENS, errors),
        "cache_image_read": first_count(attributes, d.CACHE_IMAGE_READ_TOKENS, errors),
        "output_image": first_count(attributes, d.OUTPUT_IMAGE_TOKENS, errors),
    }
    # JSON usage objects fill what the flat attributes left out (Logfire keeps cache counts only
    # in the provider's raw usage; Langfuse only has its usage_details).
    from_json = None
    source = d.RAW_PROVIDER_USAGE
    if d.RAW_PROVIDER_USAGE in attributes:
        from_json = _usage_json.provider_usage(attributes[d.RAW_PROVIDER_USAGE], catalog_provider_id(provider), model)
    if from_json is None and d.LANGFUSE_USAGE_DETAILS in attributes:
        source = d.LANGFUSE_USAGE_DETAILS
        from_json = _usage_json.langfuse_usage(attributes[d.LANGFUSE_USAGE_DETAILS], model)
    if from_json is None and usage["input"] is None and usage["output"] is None:
        # The JSON was the only usage the span had: say why it could not be read, rather than
        # reporting a call without usage.
        for name in (d.RAW_PROVIDER_USAGE, d.LANGFUSE_USAGE_DETAILS):
            reason = _usage_json.unreadable(attributes[name]) if name in attributes else None
            if reason is not None:
                errors.append(f"{name}: {reason}")
    if from_json is not None:
        keys = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
                "cache_write": "cache_write_tokens", "cache_write_1h": "cache_write_1h_tokens",
                "reasoning": "output_reasoning_tokens", "input_audio": "input_audio_tokens",
                "cache_audio_read": "cache_audio_read_tokens", "output_audio": "output_audio_tokens",
                "input_image": "input_image_tokens", "cache_image_read": "cache_image_read_tokens",
                "output_image": "output_image_tokens"}  # fmt: skip
        # JSON counts are already normalised (input includes cache, output includes reasoning).
        # They are checked like the flat ones: a count past int64 would fail the whole batch's write.
        json_usage = {key: _checked_count(source, name, from_json.get(name), errors) for key, name in keys.items()}
        if any(usage[k] is None and json_usage[k] for k in ("cache_read", "cache_write")):
            # The JSON knows a cache split the flat attributes missed: take its whole picture
            # rather than mixing two accountings of the same call.
            usage.update(json_usage)
            usage["uncached_input"] = None
        else:
            for key, value in json_usage.items():
                if usage[key] is None:
                    usage[key] = value
    return usage


def _is_in(value: object, names: frozenset[str]) -> bool:
    # Only text can name a kind; testing a dict or list (an OTLP kvlist) for membership would raise.
    return isinstance(value, str) and value in names


def _checked_count(attribute: str, key: str, value: int | None, errors: list[str]) -> int | None:
    if value is None:
        return None
    try:
        return parse_token_count(value)
    except ValueError as exc:
        errors.append(f"{attribute} {key}: {exc}")
        return None


def _excludes_cache(scope: str | None, provider: str | None) -> bool:
    if not scope or not provider:
        return False
    scope, provider = scope.lower(), provider.lower()
    return any(scope.startswith(s) and provider.startswith(p) for s, p in d.INPUT_EXCLUDES_CACHE)
