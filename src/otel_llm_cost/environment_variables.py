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
