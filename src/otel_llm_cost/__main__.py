from __future__ import annotations

from otel_llm_cost.cli import cli

cli()
