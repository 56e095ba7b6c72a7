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

OTEL_LLM_COST_PRICES_FILE: Final = "OTEL_LLM_COST_PRICES_FILE"
"""
.. envvar:: OTEL_LLM_COST_PRICES_FILE

A prices overrides file (``.toml``, ``.json`` or ``.yaml``): custom models, negotiated discounts
and fixes to upstream prices (README, "Pricing rules"). Unlike other variables, a bad file is an
error when the processor is created, naming the line and key: silently ignoring it would store
wrong costs. Default: none. Argument: ``prices_file`` (``LLMCostSpanProcessor``, ``Pricer``).
"""

OTEL_LLM_COST_CATALOG_FILE: Final = "OTEL_LLM_COST_CATALOG_FILE"
"""
.. envvar:: OTEL_LLM_COST_CATALOG_FILE

Where ``otel-llm-cost prices update`` stores the genai-prices catalog it fetched, and where the
processor and the CLI look for it. When the file does not exist, the catalog bundled with
genai-prices is used (nothing is ever fetched otherwise). Default:
``<user config dir>/otel-llm-cost/genai-prices-data.json``. Argument: ``Pricer(snapshot=...)``.
"""

OTEL_LLM_COST_SPOOL_DIR: Final = "OTEL_LLM_COST_SPOOL_DIR"
"""
.. envvar:: OTEL_LLM_COST_SPOOL_DIR

Folder where the processor writes priced batches when the database cannot be written (another
process holds its lock); ``otel-llm-cost ingest`` or ``otel-llm-cost serve`` loads them exactly
once. Default: unset, such batches are dropped and counted. Argument: ``spool_dir``.
"""

OTEL_LLM_COST_SERVE_AUTH_TOKEN: Final = "OTEL_LLM_COST_SERVE_AUTH_TOKEN"
"""
.. envvar:: OTEL_LLM_COST_SERVE_AUTH_TOKEN

Bearer token ``otel-llm-cost serve`` requires on every request but ``/healthz``. Default: unset,
no authentication (the server binds 127.0.0.1). Option: ``--auth-token``.
"""

OTEL_LLM_COST_BUDGETS_FILE: Final = "OTEL_LLM_COST_BUDGETS_FILE"
"""
.. envvar:: OTEL_LLM_COST_BUDGETS_FILE

A TOML file of budgets (``[[budget]]`` tables) the processor watches, beside those in the
``llm_budgets`` table. A file that cannot be read or holds a malformed budget is logged and
ignored. Default: none. Argument: ``budgets_file``.
"""

OTEL_LLM_COST_SMTP_HOST: Final = "OTEL_LLM_COST_SMTP_HOST"
"""
.. envvar:: OTEL_LLM_COST_SMTP_HOST

SMTP server for ``email:`` budget alert channels. Default: ``localhost``. Argument: ``SmtpSettings(host=...)``.
"""

OTEL_LLM_COST_SMTP_PORT: Final = "OTEL_LLM_COST_SMTP_PORT"
"""
.. envvar:: OTEL_LLM_COST_SMTP_PORT

SMTP port. Default: 465 with ``ssl``, 587 with ``starttls``, else 25. Argument: ``SmtpSettings(port=...)``.
"""

OTEL_LLM_COST_SMTP_SECURITY: Final = "OTEL_LLM_COST_SMTP_SECURITY"
"""
.. envvar:: OTEL_LLM_COST_SMTP_SECURITY

``starttls``, ``ssl`` or ``none``. Default: ``starttls``. Argument: ``SmtpSettings(security=...)``.
"""

OTEL_LLM_COST_SMTP_USERNAME: Final = "OTEL_LLM_COST_SMTP_USERNAME"
"""
.. envvar:: OTEL_LLM_COST_SMTP_USERNAME

Log in to the SMTP server as this user. Default: no login. Argument: ``SmtpSettings(username=...)``.
"""

OTEL_LLM_COST_SMTP_PASSWORD: Final = "OTEL_LLM_COST_SMTP_PASSWORD"
"""
.. envvar:: OTEL_LLM_COST_SMTP_PASSWORD

The SMTP password; never logged. Argument: ``SmtpSettings(password=...)``.
"""

OTEL_LLM_COST_SMTP_FROM: Final = "OTEL_LLM_COST_SMTP_FROM"
"""
.. envvar:: OTEL_LLM_COST_SMTP_FROM

The From address of alert emails. Default: ``otel-llm-cost@localhost``. Argument: ``SmtpSettings(sender=...)``.
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
