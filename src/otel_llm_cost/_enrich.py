"""The cost attributes put on forwarded spans, and the span copy that carries them.

Spans are immutable once ended, so the exporter builds a new ``ReadableSpan`` that shares
everything with the original (context, parent, resource, scope, events, links, status, times)
except its attributes: the original ones plus the cost. This is what the SDK itself does in
``Span._readable_span`` and what logfire's processor wrapper does to rewrite spans.

What a priced call gets (money is ``Decimal`` inside the package; span attributes cannot hold a
``Decimal``, so values are converted to ``float`` here, at the boundary, once):

- ``gen_ai.usage.cost``: the cost in USD, as OpenLIT writes it and OpenLIT-based Grafana dashboards
  read it;
- ``gen_ai.usage.cost.amount`` / ``.currency`` ("USD") / ``.source``: the names proposed in
  semantic-conventions-genai PR #443, where ``source`` is ``local`` when we computed the cost and
  ``provider`` when it is the cost the span reported itself;
- ``llm.cost.*``: the breakdown by token kind, the pricing status and what was priced.

A call we cannot price gets ``llm.cost.pricing_status`` (and its detail) and no cost at all: a
missing cost, never a 0. The span's own attributes are kept, with two exceptions: a
``gen_ai.usage.cost*`` attribute it already had is replaced when we write ours (by the cost that
counts, the one in ``llm_calls.cost_usd``), and ``llm.cost.*`` attributes, which are ours, are
always rewritten, so a span that passes through two of these processors carries no stale ones.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from otel_llm_cost import attributes as a
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import COMPUTED, REPORTED, Cost

CURRENCY: Final = "USD"
# cost_source -> gen_ai.usage.cost.source (PR #443: "local" = computed by the emitter, "provider").
SOURCE_BY_COST_SOURCE: Final = {COMPUTED: "local", REPORTED: "provider"}

# Our own names: a copy never keeps a value the span had under one of them.
OURS: Final = frozenset(
    {
        a.LLM_COST_PRICING_STATUS,
        a.LLM_COST_PRICING_DETAIL,
        a.LLM_COST_INPUT_USD,
        a.LLM_COST_CACHE_READ_USD,
        a.LLM_COST_CACHE_WRITE_USD,
        a.LLM_COST_OUTPUT_USD,
        a.LLM_COST_OTHER_USD,
        a.LLM_COST_REPORTED_USD,
        a.LLM_COST_PRICED_MODEL,
        a.LLM_COST_IS_DUPLICATE,
    }
)

_BREAKDOWN: Final = (
    (a.LLM_COST_INPUT_USD, "input_cost_usd"),
    (a.LLM_COST_CACHE_READ_USD, "cache_read_cost_usd"),
    (a.LLM_COST_CACHE_WRITE_USD, "cache_write_cost_usd"),
    (a.LLM_COST_OUTPUT_USD, "output_cost_usd"),
    (a.LLM_COST_OTHER_USD, "other_cost_usd"),
)


def cost_attributes(record: CallRecord, cost: Cost) -> dict[str, AttributeValue]:
    """The attributes that describe one call's cost; no cost attribute at all when unpriced."""
    out: dict[str, AttributeValue] = {a.LLM_COST_PRICING_STATUS: cost.pricing_status}
    if cost.pricing_detail:
        out[a.LLM_COST_PRICING_DETAIL] = cost.pricing_detail
    if cost.cost_usd is not None:
        usd = float(cost.cost_usd)
        out[a.GEN_AI_USAGE_COST] = usd
        out[a.GEN_AI_USAGE_COST_AMOUNT] = usd
        out[a.GEN_AI_USAGE_COST_CURRENCY] = CURRENCY
        source = SOURCE_BY_COST_SOURCE.get(cost.cost_source or "")
        if source is not None:
            out[a.GEN_AI_USAGE_COST_SOURCE] = source
    if cost.computed_cost_usd is not None:
        # The breakdown is of the computed cost; a reported cost comes as a total only.
        for name, field in _BREAKDOWN:
            part: Decimal | None = getattr(cost, field)
            if part is not None:
                out[name] = float(part)
        if cost.priced_model:
            out[a.LLM_COST_PRICED_MODEL] = cost.priced_model
    if record.reported_cost_usd is not None:
        out[a.LLM_COST_REPORTED_USD] = float(record.reported_cost_usd)
    if record.duplicate_of is not None:
        out[a.LLM_COST_IS_DUPLICATE] = True
    return out


class _CostSpan(ReadableSpan):
    """A ``ReadableSpan`` whose attributes are a plain dict but which keeps the original's count of
    dropped attributes (the OTLP encoder sends it as ``dropped_attributes_count``)."""

    _dropped_attributes_count = 0

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes_count


def with_attributes(span: ReadableSpan, extra: dict[str, AttributeValue]) -> ReadableSpan:
    """A copy of ``span`` with ``extra`` added to its attributes (they win over the span's own).

    Events and links are shared, not copied: they are immutable, and the SDK's bounded lists keep
    their own dropped counts. The private fields are read the way ``Span._readable_span`` does.
    """
    attributes = dict(span.attributes or {})
    if not OURS.isdisjoint(attributes):
        for name in OURS:
            attributes.pop(name, None)
    attributes.update(extra)
    copy = _CostSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=getattr(span, "_events", span.events),
        links=getattr(span, "_links", span.links),
        kind=span.kind,
        instrumentation_info=getattr(span, "_instrumentation_info", None),
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
    copy._dropped_attributes_count = span.dropped_attributes
    return copy


def enriched(span: ReadableSpan, priced: tuple[CallRecord, Cost] | None) -> ReadableSpan:
    """The span to forward: a copy with its cost for a call, the span itself for anything else."""
    return span if priced is None else with_attributes(span, cost_attributes(*priced))
