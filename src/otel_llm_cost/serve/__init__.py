"""``otel-llm-cost serve``: an OTLP receiver that owns the DuckDB file, for many processes.

DuckDB allows one writing process per file. Applications in many processes (pre-fork servers,
task pools) or in other languages point their OTLP exporter at this server instead; it runs the
same pipeline as the in-process :class:`~otel_llm_cost.LLMCostSpanProcessor` (normalise, price,
store, forward) and answers a request only once its spans are committed (or spooled).

Modules: ``_decode`` (OTLP protobuf/JSON -> SDK spans), ``_pipeline`` (group commit and counters),
``_http`` and ``_grpc`` (the receivers), ``_reads`` (the read API), ``_server`` (life cycle).
"""

from __future__ import annotations

from otel_llm_cost._store_factory import open_store
from otel_llm_cost.serve._server import ServeConfig, Server

__all__ = ("ServeConfig", "Server", "open_store")
