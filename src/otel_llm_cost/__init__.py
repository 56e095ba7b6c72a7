"""Price the LLM calls in your existing OpenTelemetry tracing and store them in DuckDB.

Supported interface: the names in ``__all__``, the CLI, and the documented tables and views.
Internals of :class:`DuckDBStore` and the private ``_`` modules may change.
"""

from __future__ import annotations

from importlib.metadata import version as _metadata_version

from otel_llm_cost.exporter import CostExporter
from otel_llm_cost.migrations import migrate
from otel_llm_cost.pricing import Pricer
from otel_llm_cost.processor import LLMCostSpanProcessor
from otel_llm_cost.store import DuckDBStore

__version__ = _metadata_version("otel_llm_cost")
__all__ = ("LLMCostSpanProcessor", "CostExporter", "DuckDBStore", "Pricer", "migrate", "__version__")
