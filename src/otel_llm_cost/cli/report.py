"""``otel-llm-cost report``: cost by day, model, service and user, in the terminal or as JSON."""

from __future__ import annotations

import dataclasses

import click

from otel_llm_cost import report as reporting
from otel_llm_cost._report_render import render_report, report_to_json
from otel_llm_cost.cli._common import console, db_option, format_option
from otel_llm_cost.cli.ducklake import open_lake_for_reading, store_options


@click.command()
@db_option
@store_options()
@format_option("Tables for people, JSON (money as exact decimal strings) for programs.")
@click.option("--days", type=click.IntRange(1, 3660), default=14, show_default=True, help="Days in the daily table.")
@click.option(
    "--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Users and conversations listed."
)
def report(
    db_path: str, store_spec: str | None, data_path: str | None, output_format: str, days: int, top: int
) -> None:
    """Print cost by day, model, service and user.

    Also totals, the most expensive conversations, and the calls that could not be priced. The
    database (or, with --store, the DuckLake) is opened read-only.
    """
    print_report(db_path, output_format=output_format, days=days, top=top, store_spec=store_spec, data_path=data_path)


def print_report(
    db_path: str,
    *,
    output_format: str,
    days: int,
    top: int,
    store_spec: str | None = None,
    data_path: str | None = None,
) -> None:
    lake = open_lake_for_reading(store_spec, data_path) if store_spec else None
    try:
        con = lake.con if lake else reporting.open_database(db_path)
    except reporting.ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        data = reporting.build_report(con, days=days, top=top)
    finally:
        con.close()
    if lake is not None:  # named by its DSN without the password, not by DuckDB's attach path
        data = dataclasses.replace(data, db_path=lake.path)
    if output_format == "json":
        click.echo(report_to_json(data))
    else:
        render_report(data, console())
