"""Price the LLM calls in your existing OpenTelemetry tracing and store them in DuckDB.

Supported interface: the names in ``__all__``, the CLI, and the documented tables and views.
Internals of :class:`DuckDBStore` and the private ``_`` modules may change.

The names are imported on first use: ``opentelemetry-instrument`` imports this package (for its
entry points) in every process where it is installed, and DuckDB, pyarrow and genai-prices take
a quarter of a second to import, which an application that has not enabled it should not pay.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version as _metadata_version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_llm_cost._alert_channels import SmtpSettings
    from otel_llm_cost._alert_delivery import AlertDispatcher
    from otel_llm_cost._install import install
    from otel_llm_cost.budget_monitor import BudgetMonitor
    from otel_llm_cost.budgets import Alert, Budget, BudgetDecision, BudgetStatus
    from otel_llm_cost.exporter import CostExporter
    from otel_llm_cost.migrations import migrate
    from otel_llm_cost.pricing import Pricer
    from otel_llm_cost.processor import LLMCostSpanProcessor
    from otel_llm_cost.store import DuckDBStore

__version__ = _metadata_version("otel_llm_cost")
__all__ = (
    "LLMCostSpanProcessor", "CostExporter", "DuckDBStore", "Pricer", "install", "migrate",
    "Budget", "BudgetMonitor", "BudgetDecision", "BudgetStatus", "Alert", "SmtpSettings", "AlertDispatcher",
    "__version__",
)  # fmt: skip

_MODULE_OF = {
    "LLMCostSpanProcessor": "otel_llm_cost.processor",
    "CostExporter": "otel_llm_cost.exporter",
    "DuckDBStore": "otel_llm_cost.store",
    "Pricer": "otel_llm_cost.pricing",
    "install": "otel_llm_cost._install",
    "migrate": "otel_llm_cost.migrations",
    "Budget": "otel_llm_cost.budgets",
    "BudgetDecision": "otel_llm_cost.budgets",
    "BudgetStatus": "otel_llm_cost.budgets",
    "Alert": "otel_llm_cost.budgets",
    "BudgetMonitor": "otel_llm_cost.budget_monitor",
    "SmtpSettings": "otel_llm_cost._alert_channels",
    "AlertDispatcher": "otel_llm_cost._alert_delivery",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_llm_cost' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
