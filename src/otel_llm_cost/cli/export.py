"""``otel-llm-cost export``: a table or view to CSV, JSON or Parquet, a file or stdout."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import click
import duckdb

from otel_llm_cost import export as exporting
from otel_llm_cost.cli._common import db_option, query_log_option
from otel_llm_cost.export import ExportError, ExportResult, ExportSpec
from otel_llm_cost.store import StoreUnavailable


@click.command("export")
@db_option
@click.option(
    "--source",
    default=exporting.DEFAULT_SOURCE,
    show_default=True,
    metavar="NAME",
    help="The table or view to export (any of the database's; a wrong name lists them).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(exporting.FORMATS),
    help="Output format. Default: from the --output suffix (.csv, .json/.jsonl, .parquet), else csv.",
)
@click.option("--since", metavar="WHEN", help="Only rows from then on (7d, 12h, 2026-11-01), on the time column.")
@click.option(
    "--output",
    "-o",
    metavar="PATH",
    help="File to write (replaced if it exists), or a folder with --partition-by day. Default: stdout (csv, json).",
)
@click.option(
    "--partition-by",
    type=click.Choice(["day"]),
    help="Parquet only: write a hive-partitioned folder, one day=YYYY-MM-DD folder per UTC day.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="With --partition-by: write into a folder that holds files; the days exported are replaced, others kept.",
)
@query_log_option
def export_command(
    db_path: str,
    source: str,
    output_format: str | None,
    since: str | None,
    output: str | None,
    partition_by: str | None,
    overwrite: bool,
    query_log: bool | None,
) -> None:
    """Export a table or view: CSV, JSON, Parquet.

    Money stays exact: DECIMAL in Parquet, its digits in CSV, a string of its digits in JSON
    (one object per line). The database is opened read-only.

    \b
    Examples:
      otel-llm-cost export > calls.csv
      otel-llm-cost export --source llm_daily_cost --since 30d -o daily.parquet
      otel-llm-cost export --format json --since 2026-11-01 | jq .cost_usd
      otel-llm-cost export --partition-by day -o lake/llm_calls
        # then: duckdb -c "FROM read_parquet('lake/llm_calls/*/*.parquet', hive_partitioning=true)"
    """
    if partition_by and output is None:
        raise click.UsageError("--partition-by day writes a folder: give it with --output")
    if output is None and output_format == "parquet":
        raise click.UsageError("Parquet is binary: give a file with --output")
    if output is None:
        _export_to_stdout(db_path, source, output_format or "csv", since, query_log)
        return
    fmt = output_format
    if fmt is None and not partition_by and Path(output).suffix.lower() not in exporting.SUFFIXES:
        fmt = "csv"
    spec = ExportSpec(output, fmt, source, since, partition_by_day=partition_by == "day", overwrite=overwrite)
    result = _run(db_path, spec, query_log)
    where = f"{result.path}/day=*/" if spec.partition_by_day else result.path
    filtered = f" since {result.since:%Y-%m-%d %H:%M} UTC (on {result.time_column})" if result.since else ""
    click.echo(f"Exported {result.rows:,} rows of {result.source}{filtered} to {where} ({result.format}).", err=True)


def _export_to_stdout(db_path: str, source: str, fmt: str, since: str | None, query_log: bool | None) -> None:
    # DuckDB writes files, not Python streams: export to a temporary file, then copy it out.
    with tempfile.TemporaryDirectory(prefix="otel-llm-cost-export-") as folder:
        spec = ExportSpec(Path(folder) / f"export.{fmt}", fmt, source, since)
        _run(db_path, spec, query_log)
        sys.stdout.flush()
        out = sys.stdout.buffer
        with open(spec.path, "rb") as written:
            shutil.copyfileobj(written, out)
        out.flush()


def _run(db_path: str, spec: ExportSpec, query_log: bool | None) -> ExportResult:
    try:
        result, note = exporting.export_database(db_path, spec, query_log=query_log)
    except (StoreUnavailable, ExportError) as exc:
        raise click.ClickException(str(exc)) from exc
    except duckdb.Error as exc:
        raise click.ClickException(f"export failed: {str(exc).splitlines()[0]}") from exc
    if note:
        click.echo(f"Note: {note}", err=True)
    return result
