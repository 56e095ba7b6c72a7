"""``otel-llm-cost ingest``: load a spool folder (the in-process fallback) into the database."""

from __future__ import annotations

import json
import sys

import click
import duckdb

from otel_llm_cost import spool
from otel_llm_cost._lake_retry import CommitConflict
from otel_llm_cost.cli._common import db_option, format_option
from otel_llm_cost.cli._store_choice import open_writable
from otel_llm_cost.cli.ducklake import store_options
from otel_llm_cost.ducklake import DuckLakeStore, redacted


@click.command("ingest")
@click.argument("spool_dir", type=click.Path(file_okay=False))
@db_option
@store_options()
@format_option("A summary for people, JSON for scripts.")
def ingest_command(
    spool_dir: str, db_path: str, store_spec: str | None, data_path: str | None, output_format: str
) -> None:
    """Load spooled batches into the database.

    Processes given spool_dir= (or OTEL_LLM_COST_SPOOL_DIR) write there when the database is
    locked. Each batch is deleted once committed; a crash in between loads nothing twice. While
    `otel-llm-cost serve` owns the database, it ingests the spool itself (--spool-dir).
    With --store, into a DuckLake: many ingests and servers may write it at once, and each span
    is still stored once.

    \b
    Examples:
      otel-llm-cost ingest /var/spool/llm-cost --db llm-cost.duckdb
      otel-llm-cost ingest ./spool --format json
      otel-llm-cost ingest ./spool --store 'ducklake:postgres:dbname=llm_cost host=db1' --data-path /mnt/lake
    """
    store = open_writable(db_path, store_spec, data_path)
    pending = len(spool.pending_batches(spool_dir))
    try:
        with click.progressbar(range(pending), label="ingesting", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.pos)

            target = store if isinstance(store, DuckLakeStore) else store.con
            result = spool.ingest_spool(target, spool_dir, progress=progress)
    except (duckdb.Error, CommitConflict) as exc:  # only a lake's write fails here: the batches stay
        message = redacted(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        raise click.ClickException(
            f"cannot write {store.path}: {message}; the batches not loaded stay in {spool_dir}"
        ) from exc
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
