"""``otel-llm-cost ingest``: load a spool folder (the in-process fallback) into the database."""

from __future__ import annotations

import json
import sys

import click

from otel_llm_cost import spool
from otel_llm_cost._store_factory import open_store
from otel_llm_cost.cli._common import db_option, format_option
from otel_llm_cost.migrations import MigrationError
from otel_llm_cost.store import StoreUnavailable


@click.command("ingest")
@click.argument("spool_dir", type=click.Path(file_okay=False))
@db_option
@format_option("A summary for people, JSON for scripts.")
def ingest_command(spool_dir: str, db_path: str, output_format: str) -> None:
    """Load spooled batches into the database.

    Processes given spool_dir= (or OTEL_LLM_COST_SPOOL_DIR) write there when the database is
    locked. Each batch is deleted once committed; a crash in between loads nothing twice. While
    `otel-llm-cost serve` owns the database, it ingests the spool itself (--spool-dir).

    \b
    Examples:
      otel-llm-cost ingest /var/spool/llm-cost --db llm-cost.duckdb
      otel-llm-cost ingest ./spool --format json
    """
    try:
        store = open_store(db_path)
    except (StoreUnavailable, MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    pending = len(spool.pending_batches(spool_dir))
    try:
        with click.progressbar(range(pending), label="ingesting", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.pos)

            result = spool.ingest_spool(store.con, spool_dir, progress=progress)
    finally:
        store.close()
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(
            f"{result.batches} batches loaded: {result.calls_inserted} new calls,"
            f" {result.calls_already_stored} already stored"
        )
        if result.partial_removed:
            click.echo(f"{len(result.partial_removed)} unfinished batches of dead writers removed")
        if result.partial_in_progress:
            click.echo(f"{result.partial_in_progress} batches still being written were left")
    if result.failed:
        raise click.ClickException(
            f"{len(result.failed)} batches could not be read and were renamed *.failed: {', '.join(result.failed)}"
        )
