"""``otel-llm-cost prune``: archive old calls to Parquet, then delete them in one transaction."""

from __future__ import annotations

from datetime import datetime, timezone

import click
import duckdb

from otel_llm_cost import migrations, retention
from otel_llm_cost._timespec import EXAMPLES, parse_instant
from otel_llm_cost.cli._common import db_option
from otel_llm_cost.store import DuckDBStore, StoreUnavailable


@click.command("prune")
@db_option
@click.option("--older-than", required=True, metavar="AGE", help=f"Remove rows that started before this ({EXAMPLES}).")
@click.option(
    "--archive",
    "archive_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Archive folder (Parquet, hive-partitioned by day). Default: <database name>-archive beside the database.",
)
@click.option("--no-archive", is_flag=True, help="Delete without archiving. The rows are gone for good.")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed; change nothing.")
def prune_command(db_path: str, older_than: str, archive_dir: str | None, no_archive: bool, dry_run: bool) -> None:
    """Archive, then delete, calls older than AGE.

    The calls and agent runs that started before the cutoff are written to Parquet, the archive's row
    count is read back and checked, and only then are they deleted, in one transaction with the
    query-log rows of the same age. Prices and ingest health are kept. Needs the database to
    itself: stop the process writing it first.

    \b
    Examples:
      otel-llm-cost prune --older-than 365d --dry-run
      otel-llm-cost prune --older-than 365d --archive /srv/archive/llm-cost
      otel-llm-cost prune --older-than 2025-01-01
        # the archive reads as one table:
        # duckdb -c "FROM read_parquet('llm-cost-archive/llm_calls/*/*.parquet', hive_partitioning=true)"
    """
    if no_archive and archive_dir:
        raise click.UsageError("--archive and --no-archive cannot be used together")
    now = datetime.now(timezone.utc)
    try:
        cutoff = parse_instant(older_than, now=now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    archive = None if no_archive else (archive_dir or retention.default_archive_dir(db_path))
    try:
        store = DuckDBStore(db_path, read_only=dry_run)
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        if not dry_run:
            click.echo(f"Archiving and deleting what started before {cutoff:%Y-%m-%d %H:%M} UTC ...", err=True)
        result = retention.prune(store.con, cutoff=cutoff, archive_dir=archive, dry_run=dry_run, now=now)
    except (retention.RetentionError, duckdb.Error) as exc:
        raise click.ClickException(f"nothing was deleted: {str(exc).splitlines()[0]}") from exc
    finally:
        store.close()
    counts = f"{result.calls:,} calls, {result.agent_runs:,} agent runs and {result.query_log:,} query-log rows"
    when = f"date from before {result.cutoff:%Y-%m-%d %H:%M} UTC"
    if dry_run:
        where = f"archived to {result.archive_dir}" if result.archive_dir else "deleted without an archive"
        click.echo(f"Would remove {counts} that {when} ({where}).")
    elif result.archived_files:
        click.echo(f"Removed {counts} that {when}; archived in {len(result.archived_files)} files under {archive}.")
    else:
        click.echo(f"Removed {counts} that {when}" + ("." if result.calls or result.agent_runs else ": nothing to do."))
