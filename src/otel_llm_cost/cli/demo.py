"""``otel-llm-cost demo``: a synthetic workload through the real SDK, then the report."""

from __future__ import annotations

import click

from otel_llm_cost import migrations
from otel_llm_cost.cli._common import db_option
from otel_llm_cost.cli.report import print_report
from otel_llm_cost.demo import DEFAULT_CALLS, DEFAULT_SEED, MAX_CALLS, SERVICES, run_demo
from otel_llm_cost.store import StoreUnavailable


@click.command()
@db_option
@click.option(
    "--calls",
    type=click.IntRange(1, MAX_CALLS),
    default=DEFAULT_CALLS,
    show_default=True,
    help="How many LLM calls to generate.",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Random seed. The same seed makes the same spans, so a re-run stores nothing twice.",
)
def demo(db_path: str, calls: int, seed: int) -> None:
    """Store a synthetic LLM workload, then report.

    Five services make exactly --calls provider calls over the last 14 days through the real
    OpenTelemetry SDK and one LLMCostSpanProcessor: agents with prompt caching, reasoning models,
    embeddings, retries and failures, and a model with no known price.
    """
    click.echo(f"Running {calls:,} LLM calls from {len(SERVICES)} services through OpenTelemetry into {db_path} ...")
    try:
        result = run_demo(db_path, calls=calls, seed=seed)
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Generated {result.calls:,} calls in {result.traces:,} traces ({result.failed_calls:,} failed, "
        f"{result.unknown_model_calls:,} to a model without a price) plus {result.aggregate_spans:,} agent/tool "
        f"spans and {result.other_spans:,} HTTP/queue spans, which are not calls, in {result.seconds:.1f} s."
    )
    click.echo(f"{result.stored:,} new calls stored, {result.already_present:,} already present.")
    missing = result.calls - result.stored - result.already_present
    if missing:
        # Dropped by a full queue or a failed write, or never recorded (OTEL_SDK_DISABLED=true).
        click.echo(f"Warning: {missing:,} calls did not reach the database; see the log.", err=True)
    click.echo()
    print_report(db_path, output_format="table", days=14, top=10)
