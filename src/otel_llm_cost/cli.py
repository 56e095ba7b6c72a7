"""The ``otel-llm-cost`` command."""

from __future__ import annotations

import click

import otel_llm_cost


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(otel_llm_cost.__version__, prog_name="otel-llm-cost")
def cli() -> None:
    """Price the LLM calls in your OpenTelemetry traces and report on them."""
