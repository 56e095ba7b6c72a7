"""``otel-llm-cost migrate``: create, upgrade, roll back or list the schema migrations."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb

from otel_llm_cost import migrations
from otel_llm_cost.cli._common import db_option


@click.command("migrate")
@db_option
@click.option("--list", "list_only", is_flag=True, help="Show each migration as applied or pending; change nothing.")
@click.option(
    "--to",
    "target",
    type=click.IntRange(min=0),
    help="Migrate up or down to migration number N (0 rolls everything back). Default: the newest.",
)
def migrate_command(db_path: str, list_only: bool, target: int | None) -> None:
    """Create, upgrade or roll back the schema.

    Each migration runs in one transaction with its record. With no option, applies every pending one.
    """
    try:
        known = migrations.load_migrations()
    except migrations.MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    if list_only:
        if target is not None:
            raise click.UsageError("--list and --to cannot be used together")
        _list_migrations(db_path, known)
        return
    folder = Path(db_path).expanduser().resolve().parent
    if not folder.is_dir():
        raise click.ClickException(f"cannot create {db_path}: folder {folder} does not exist")
    try:
        con = duckdb.connect(db_path)
    except duckdb.Error as exc:
        raise click.ClickException(f"cannot open {db_path}: {str(exc).splitlines()[0]}") from exc
    try:
        steps = migrations.migrate(con, to=target, migrations=known)
        current = migrations.applied(con)
    except (migrations.MigrationError, duckdb.Error) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        con.close()
    for step in steps:
        click.echo(f"{step.replace(' ', ': ', 1)}")  # "up: 0001_initial"
    at = current[-1] if current else "0 (no migrations applied)"
    click.echo(f"{db_path} is at {at}." if steps else f"Nothing to do: {db_path} is already at {at}.")


def _list_migrations(db_path: str, known: list[migrations.Migration]) -> None:
    if not Path(db_path).exists():
        # Never create the file here: listing is read-only, and so is the answer.
        click.echo(f"{db_path} does not exist; every migration is pending.")
        done: list[str] = []
    else:
        try:
            con = duckdb.connect(db_path, read_only=True)
        except duckdb.Error as exc:
            raise click.ClickException(f"cannot open {db_path}: {str(exc).splitlines()[0]}") from exc
        try:
            done = migrations.applied(con)
        finally:
            con.close()
    for migration in known:
        click.echo(f"{'applied' if migration.name in done else 'pending'}  {migration.name}")
    for name in sorted(set(done) - {m.name for m in known}):
        click.echo(f"unknown  {name}  (written by a newer otel-llm-cost)")
