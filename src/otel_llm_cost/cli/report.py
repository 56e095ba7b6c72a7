"""``otel-llm-cost report``: cost by day, model, service and user, in the terminal or as JSON."""

from __future__ import annotations

import click

from otel_llm_cost import report as reporting
from otel_llm_cost._report_render import render_report, report_to_json
from otel_llm_cost.cli._common import console, db_option, format_option


@click.command()
@db_option
@format_option("Tables for people, JSON (money as exact decimal strings) for programs.")
@click.option("--days", type=click.IntRange(1, 3660), default=14, show_default=True, help="Days in the daily table.")
@click.option(
    "--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Users and conversations listed."
)
def report(db_path: str, output_format: str, days: int, top: int) -> None:
    """Print cost by day, model, service and user.

    Also totals, the most expensive conversations, and the calls that could not be priced. The
    database is opened read-only.
    """
    print_report(db_path, output_format=output_format, days=days, top=top)


def print_report(db_path: str, *, output_format: str, days: int, top: int) -> None:
    try:
        con = reporting.open_database(db_path)
    except reporting.ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        data = reporting.build_report(con, days=days, top=top)
    finally:
        con.close()
    if output_format == "json":
        click.echo(report_to_json(data))
    else:
        render_report(data, console())
