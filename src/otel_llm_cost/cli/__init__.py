"""The ``otel-llm-cost`` command line: one module per command, registered on one click group."""

from __future__ import annotations

from otel_llm_cost.cli import (
    budget,
    demo,
    ducklake,
    export,
    health,
    ingest,
    migrate,
    prices,
    prune,
    rates,
    report,
    reprice,
    serve,
    whatif,
)
from otel_llm_cost.cli._common import cli

cli.add_command(demo.demo)
cli.add_command(report.report)
cli.add_command(migrate.migrate_command)
cli.add_command(health.health_command)
cli.add_command(reprice.reprice_command)
cli.add_command(rates.rates_group)
cli.add_command(whatif.whatif_command)
cli.add_command(prices.prices)
cli.add_command(serve.serve_command)
cli.add_command(ingest.ingest_command)
cli.add_command(budget.budget_group)
cli.add_command(export.export_command)
cli.add_command(prune.prune_command)
cli.add_command(ducklake.ducklake_group)

__all__ = ["cli"]
