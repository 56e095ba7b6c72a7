"""Send the traces, now carrying their cost, and the cost metrics to an OpenTelemetry Collector.

Start a collector (OTLP in on 4317/4318, a debug exporter printing what arrives, Prometheus on 8889)::

    otelcol-contrib --config examples/otel-collector.yaml

then run ``python examples/forward_to_collector.py``. The standard variables choose where things
go: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``http://localhost:4318``), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_EXPORTER_OTLP_TIMEOUT``, ... The spans also land in ``./llm-cost.duckdb`` (or the file named by
``OTEL_LLM_COST_DB``), and the script prints what was forwarded.

The same setup with no code at all::

    OTEL_LLM_COST_ENABLED=true OTEL_LLM_COST_FORWARD=otlp OTEL_LLM_COST_FORWARD_ALL_SPANS=true \\
    OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=otlp opentelemetry-instrument python app.py
"""

from __future__ import annotations

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import LLMCostSpanProcessor

resource = Resource.create({"service.name": "checkout", "deployment.environment.name": "staging"})

# Metrics: the cost histogram (gen_ai.usage.cost, USD) and the processor's health go wherever the
# global MeterProvider sends them.
meter_provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
metrics.set_meter_provider(meter_provider)

# Traces: this one processor replaces the usual BatchSpanProcessor(OTLPSpanExporter()). LLM spans
# are priced, stored and forwarded with their cost; every other span is forwarded unchanged.
provider = TracerProvider(resource=resource)
processor = LLMCostSpanProcessor(forward_to="otlp_http", forward_all_spans=True)
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)

# An HTTP request that makes two LLM calls, the way instrumentation libraries record them.
tracer = trace.get_tracer("example")
with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER) as request:
    request.set_attribute("http.request.method", "POST")
    for model, provider_name in (("gpt-4o-mini", "openai"), ("claude-haiku-4-5", "anthropic")):
        with tracer.start_as_current_span(f"chat {model}", kind=trace.SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": provider_name,
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 2_000,
                    "gen_ai.usage.output_tokens": 400,
                }
            )

# Shutting down sends what is queued (within the timeout, even if the collector is down).
provider.shutdown()
meter_provider.shutdown()
stats = processor.stats()
print(f"forwarded {stats.forwarded} spans ({stats.forward_failed} failed); stored {stats.stored} LLM calls")
