"""Environment variables read by otel-llm-cost. Each has an argument that overrides it.

Precedence is: explicit argument, then the environment variable, then the default. A malformed
value is logged and ignored (the default is used); a malformed *argument* raises ``ValueError``.
The standard ``OTEL_*`` variables are read by the OpenTelemetry classes we compose, never here.
"""

from __future__ import annotations

from typing import Final

OTEL_LLM_COST_DB: Final = "OTEL_LLM_COST_DB"
"""
.. envvar:: OTEL_LLM_COST_DB

Path of the DuckDB file the processor writes. Default: ``llm-cost.duckdb`` in the working folder.
Argument: ``LLMCostSpanProcessor(db_path=...)``.
"""

OTEL_LLM_COST_MAX_QUEUE_SIZE: Final = "OTEL_LLM_COST_MAX_QUEUE_SIZE"
"""
.. envvar:: OTEL_LLM_COST_MAX_QUEUE_SIZE

Most LLM spans held in memory waiting for the worker; past it spans are dropped and counted.
Default: 8192. Argument: ``max_queue_size``.
"""

OTEL_LLM_COST_MAX_BATCH_SIZE: Final = "OTEL_LLM_COST_MAX_BATCH_SIZE"
"""
.. envvar:: OTEL_LLM_COST_MAX_BATCH_SIZE

Most spans priced and written in one DuckDB transaction. Default: 4096. Argument: ``max_batch_size``.
"""

OTEL_LLM_COST_SCHEDULE_DELAY_MILLIS: Final = "OTEL_LLM_COST_SCHEDULE_DELAY_MILLIS"
"""
.. envvar:: OTEL_LLM_COST_SCHEDULE_DELAY_MILLIS

Longest time a span waits in the queue before it is written, in milliseconds. It bounds what a
crash can lose. Default: 1000. Argument: ``schedule_delay_millis``.
"""

OTEL_LLM_COST_ENABLED: Final = "OTEL_LLM_COST_ENABLED"
"""
.. envvar:: OTEL_LLM_COST_ENABLED

``true`` makes ``opentelemetry-instrument`` add the processor (zero-code setup); unset, it does
not. ``false`` also turns :func:`otel_llm_cost.install` into a no-op, so a deployment can switch it
off without a code change. Default: unset. Argument: ``install(enabled=...)``.
"""

OTEL_LLM_COST_FORWARD: Final = "OTEL_LLM_COST_FORWARD"
"""
.. envvar:: OTEL_LLM_COST_FORWARD

Where to forward the spans, with their cost added: ``otlp`` (the protocol the standard
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``/``OTEL_EXPORTER_OTLP_PROTOCOL`` select, gRPC when unset, as
``OTEL_TRACES_EXPORTER=otlp`` does), ``otlp_http``, ``otlp_grpc``, ``console`` or ``none``. The
OTLP exporters read the standard ``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers, timeout,
compression, certificates). Default: ``none``. Argument: ``forward_to`` (a name or any
``SpanExporter``).
"""

OTEL_LLM_COST_FORWARD_ALL_SPANS: Final = "OTEL_LLM_COST_FORWARD_ALL_SPANS"
"""
.. envvar:: OTEL_LLM_COST_FORWARD_ALL_SPANS

``true`` forwards every sampled span, not only the LLM ones (those unchanged), so the processor
can replace the application's ``BatchSpanProcessor``. Needs a forward target. Default: ``false``.
Argument: ``forward_all_spans``.
"""

OTEL_LLM_COST_METRICS: Final = "OTEL_LLM_COST_METRICS"
"""
.. envvar:: OTEL_LLM_COST_METRICS

``false`` turns off the cost and health metrics. They go to the global ``MeterProvider`` (or the
one given), and cost nothing when none is configured. Default: ``true``. Argument: ``metrics``.
"""

OTEL_LLM_COST_TOKEN_USAGE_METRICS: Final = "OTEL_LLM_COST_TOKEN_USAGE_METRICS"
"""
.. envvar:: OTEL_LLM_COST_TOKEN_USAGE_METRICS

``true`` also records ``gen_ai.client.token.usage``. Off by default because instrumentation
libraries already record it, and a second copy would double the sums. Default: ``false``.
Argument: ``token_usage_metrics``.
"""

OTEL_LLM_COST_STORE_ATTRIBUTES: Final = "OTEL_LLM_COST_STORE_ATTRIBUTES"
"""
.. envvar:: OTEL_LLM_COST_STORE_ATTRIBUTES

Comma-separated span attribute names (``*`` matches any run of characters) to store, as JSON, in
``llm_calls.attributes``. Default: empty, nothing is stored: prompts and completions stay out of
the database unless listed. Argument: ``store_attributes`` (with ``redact``, a hook that only
code can give).
"""

OTEL_LLM_COST_QUERY_LOG: Final = "OTEL_LLM_COST_QUERY_LOG"
"""
.. envvar:: OTEL_LLM_COST_QUERY_LOG

``false`` stops ``export``, ``health`` and the processor's export at exit from recording their
queries' durations and row counts in ``query_log``. Default: ``true``. Option: ``--no-query-log``.
"""

OTEL_LLM_COST_EXPORT_ON_EXIT: Final = "OTEL_LLM_COST_EXPORT_ON_EXIT"
"""
.. envvar:: OTEL_LLM_COST_EXPORT_ON_EXIT

A file (``.csv``, ``.json`` or ``.parquet``) the processor writes ``llm_calls`` to at shutdown,
after its last write. Default: unset, no export. Argument: ``export_on_exit`` (a path or an
:class:`~otel_llm_cost.export.ExportSpec` with another source, format or ``since``).
"""

OTEL_LLM_COST_RETENTION_DAYS: Final = "OTEL_LLM_COST_RETENTION_DAYS"
"""
.. envvar:: OTEL_LLM_COST_RETENTION_DAYS

Keep this many days of calls: once a UTC day, the processor archives the older ones to Parquet and
deletes them (as ``otel-llm-cost prune --older-than Nd``). Default: unset, keep everything.
Argument: ``retention_days``.
"""

OTEL_LLM_COST_RETENTION_ARCHIVE_DIR: Final = "OTEL_LLM_COST_RETENTION_ARCHIVE_DIR"
"""
.. envvar:: OTEL_LLM_COST_RETENTION_ARCHIVE_DIR

Where retention archives the rows it deletes (Parquet, partitioned by day). Default: the folder
``<database file name>-archive`` beside the database. Argument: ``retention_archive_dir``.
"""
