"""The ``otel-llm-cost`` command line: one module per command, registered on one click group."""

from __future__ import annotations

from otel_llm_cost.cli import demo, ducklake, health, migrate, report
from otel_llm_cost.cli._common import cli

cli.add_command(demo.demo)
cli.add_command(report.report)
cli.add_command(migrate.migrate_command)
cli.add_command(health.health_command)
cli.add_command(ducklake.ducklake_group)

__all__ = ["cli"]
