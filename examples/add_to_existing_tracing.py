"""Add LLM cost tracking to the OpenTelemetry tracing you already have: one span processor.

Run it: ``python examples/add_to_existing_tracing.py`` (writes ``./llm-cost.duckdb``, or the file
named by ``OTEL_LLM_COST_DB``). It records one chat call the way an instrumentation library such
as ``opentelemetry-instrumentation-openai-v2`` would, then prints the cost that was stored.
"""

from __future__ import annotations

import duckdb
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import LLMCostSpanProcessor

# --- the part you add: five lines --------------------------------------------------------------
provider = TracerProvider(resource=Resource.create({"service.name": "my-app"}))  # the one you have
processor = LLMCostSpanProcessor()  # db_path: argument, then $OTEL_LLM_COST_DB, then llm-cost.duckdb
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
# ------------------------------------------------------------------------------------------------

# Your instrumented LLM client creates spans like this one; here we make it by hand.
tracer = trace.get_tracer("example")
with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT) as span:
    span.set_attributes(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 1_200,  # all input, cached tokens included
            "gen_ai.usage.cache_read.input_tokens": 1_024,
            "gen_ai.usage.output_tokens": 300,
            "user.id": "user-0042",
        }
    )
    span_id = format(span.get_span_context().span_id, "016x")

# Spans are priced and written on a worker thread; shutting down (or force_flush) waits for it.
provider.shutdown()

with duckdb.connect(str(processor.db_path), read_only=True) as con:
    model, tokens, cost, status = con.execute(
        "SELECT priced_model, input_tokens + output_tokens, cost_usd, pricing_status FROM llm_calls WHERE span_id = ?",
        [span_id],
    ).fetchone() or (None, None, None, None)
print(f"{model}: {tokens} tokens, ${cost.normalize() if cost is not None else 'unpriced'} ({status})")
