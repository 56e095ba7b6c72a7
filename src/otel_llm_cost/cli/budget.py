"""``otel-llm-cost budget``: declare, list, remove and sync budgets; show where each one stands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import duckdb
from rich.table import Table

from otel_llm_cost import _budget_sql, migrations
from otel_llm_cost._alert_channels import mask_url
from otel_llm_cost._budget_file import load_budgets_file
from otel_llm_cost.budgets import DEFAULT_THRESHOLDS_PCT, PERIODS, SCOPES, Budget, BudgetError, format_usd, parse_limit
from otel_llm_cost.cli._common import console, db_option, format_option
from otel_llm_cost.store import DuckDBStore, StoreUnavailable


@contextmanager
def _open(db_path: str, *, read_only: bool = False) -> Iterator[DuckDBStore]:
    try:
        store = DuckDBStore(db_path, read_only=read_only)
    except (StoreUnavailable, migrations.MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield store
    except duckdb.CatalogException as exc:
        raise click.ClickException(
            f"{db_path} has no budget tables yet: run otel-llm-cost migrate --db {db_path}"
        ) from exc
    except duckdb.Error as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    finally:
        store.close()


@click.group("budget")
def budget_group() -> None:
    """Declare budgets and see where they stand.

    \b
    Examples:
      otel-llm-cost budget add daily --limit 25 --period day --timezone Europe/Paris \\
          --channel slack:https://hooks.slack.com/services/T0/B0/XYZ
      otel-llm-cost budget add u1-month --limit 5 --scope user --value u1 --threshold 80,100
      otel-llm-cost budget add acme --limit 100 --scope tag --tag customer_id --value acme
      otel-llm-cost budget sync budgets.toml     # the [[budget]] tables of a TOML file
      otel-llm-cost budget status --format json  # spend, limit, percent, projection, last alert

    The running LLMCostSpanProcessor loads the budgets when it starts and alerts once per
    threshold and window. DuckDB allows one writing process per file: change budgets while the
    application is stopped, or in code (LLMCostSpanProcessor(budgets=[Budget(...)])).
    """


def _thresholds(values: tuple[str, ...]) -> tuple[int, ...]:
    result: list[int] = []
    for value in values:
        for part in value.split(","):
            text = part.strip().removesuffix("%").strip()
            if not text.isdigit():
                raise click.BadParameter(f"{part.strip()!r} is not a whole percentage", param_hint="--threshold")
            result.append(int(text))
    return tuple(result) or DEFAULT_THRESHOLDS_PCT


@budget_group.command("add")
@db_option
@click.argument("name")
@click.option("--limit", "limit_usd", required=True, help="The limit in USD, e.g. 25 or 0.50.")
@click.option("--scope", default="global", show_default=True, help=f"What the budget covers: {', '.join(SCOPES)}.")
@click.option("--value", help="Which one: the user id, model, service, ... (not for global).")
@click.option(
    "--tag", help="For --scope tag: an llm_calls column (agent_name, customer_id, ...) or a stored attribute."
)
@click.option("--period", default="month", show_default=True, help=f"One of {', '.join(PERIODS)}.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone where days begin, e.g. America/New_York.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    help="Percent of the limit that alerts, 1-1000; repeat or comma-separate. Default: 50,80,100.",
)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    help="webhook:URL, slack:URL, email:ADDRESS[,ADDRESS], otel_log or span_event; repeatable.",
)
@click.option("--replace", is_flag=True, help="Replace a budget of the same name instead of failing.")
def add_command(
    db_path: str,
    name: str,
    limit_usd: str,
    scope: str,
    value: str | None,
    tag: str | None,
    period: str,
    timezone: str,
    thresholds: tuple[str, ...],
    channels: tuple[str, ...],
    replace: bool,
) -> None:
    """Declare a budget (a USD limit per period)."""
    try:
        limit = parse_limit(limit_usd, name)
        budget = Budget(name, limit, scope=scope, value=value, tag=tag, period=period, timezone=timezone,
                        thresholds_pct=_thresholds(thresholds), channels=channels)  # fmt: skip
    except BudgetError as exc:
        raise click.ClickException(str(exc)) from exc
    with _open(db_path) as store:
        exists = store.con.execute("SELECT count(*) FROM llm_budgets WHERE name = ?", [name]).fetchone()
        if exists and exists[0] and not replace:
            raise click.ClickException(f"budget {name!r} already exists; pass --replace to change it")
        _budget_sql.save_budgets(store.con, [budget], "cli")
    click.echo(f"Budget {name!r}: {_describe(budget)}.")


@budget_group.command("remove")
@db_option
@click.argument("name")
def remove_command(db_path: str, name: str) -> None:
    """Remove a budget and its alert history."""
    with _open(db_path) as store:
        if not _budget_sql.remove_budget(store.con, name):
            raise click.ClickException(f"no budget named {name!r}")
    click.echo(f"Removed budget {name!r}.")


@budget_group.command("sync")
@db_option
@click.argument("file", type=click.Path(dir_okay=False))
def sync_command(db_path: str, file: str) -> None:
    """Declare the budgets of a TOML file; drop those it no longer lists.

    Each [[budget]] table has the fields of ``budget add``: name, limit_usd, scope, value, tag,
    period, timezone, thresholds_pct, channels. Budgets declared otherwise are left alone.
    """
    try:
        budgets = load_budgets_file(file)
    except BudgetError as exc:
        raise click.ClickException(str(exc)) from exc
    source = f"file:{Path(file).resolve()}"
    with _open(db_path) as store:
        listed = {b.name for b in budgets}
        dropped = [b.name for b, s in _budget_sql.load_budgets(store.con) if s == source and b.name not in listed]
        for name in dropped:
            _budget_sql.remove_budget(store.con, name)
        _budget_sql.save_budgets(store.con, budgets, source)
    removed = f", {len(dropped)} removed" if dropped else ""
    click.echo(f"{len(budgets)} budget{'' if len(budgets) == 1 else 's'} from {file} declared{removed}.")


@budget_group.command("list")
@db_option
@format_option("A table for people, JSON for programs.")
def list_command(db_path: str, output_format: str) -> None:
    """List the declared budgets."""
    with _open(db_path, read_only=True) as store:
        budgets = _budget_sql.load_budgets(store.con)
        channels = dict(store.con.execute("SELECT name, channels FROM llm_budgets").fetchall())
    if output_format == "json":
        rows = [
            {"name": b.name, "scope": b.scope, "value": b.value, "tag": b.tag, "period": b.period,
             "timezone": b.timezone, "limit_usd": format(b.limit_usd.normalize(), "f"),
             "thresholds_pct": list(b.thresholds_pct),
             "channels": [_mask(c) for c in json.loads(channels[b.name])], "source": source}
            for b, source in budgets
        ]  # fmt: skip
        click.echo(json.dumps(rows, indent=2))
        return
    if not budgets:
        click.echo("No budgets. Add one with: otel-llm-cost budget add NAME --limit USD")
        return
    table = Table(title="Budgets", title_justify="left")
    for column in ("name", "scope", "limit (USD)", "period", "thresholds", "channels", "source"):
        table.add_column(column, justify="right" if column == "limit (USD)" else "left")
    for b, source in budgets:
        table.add_row(
            b.name, _scope(b), format_usd(b.limit_usd), f"{b.period} ({b.timezone})",
            ", ".join(f"{t}%" for t in b.thresholds_pct),
            ", ".join(_mask(c) for c in json.loads(channels[b.name])) or "-", source,
        )  # fmt: skip
    console().print(table)


@budget_group.command("status")
@db_option
@format_option("A table for people, JSON (money as exact decimal strings) for programs.")
@click.argument("name", required=False)
def status_command(db_path: str, output_format: str, name: str | None) -> None:
    """Show spend, limit, percent and projection of each budget's current window.

    Read from the budget_status view; unpriced calls are counted beside the spend, never as $0.
    """
    with _open(db_path, read_only=True) as store:
        rows = [r for r in _budget_sql.status_rows(store.con) if name is None or r["budget"] == name]
    if name is not None and not rows:
        raise click.ClickException(f"no budget named {name!r}")
    if output_format == "json":
        click.echo(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows], indent=2))
        return
    if not rows:
        click.echo("No budgets. Add one with: otel-llm-cost budget add NAME --limit USD")
        return
    table = Table(title="Budgets, current window", title_justify="left")
    for column in ("budget", "scope", "window from", "spend (USD)", "limit (USD)", "%", "projected", "unpriced",
                   "last alert"):  # fmt: skip
        table.add_column(
            column, justify="left" if column in ("budget", "scope", "window from", "last alert") else "right"
        )
    for r in rows:
        last = f"{r['last_alert_threshold_pct']}% at {r['last_alert_at']:%Y-%m-%d %H:%M}" if r["last_alert_at"] else "-"
        table.add_row(
            r["budget"], _scope_row(r), f"{r['window_start']:%Y-%m-%d %H:%M} UTC" if r["window_end"] else "all time",
            format_usd(r["spend_usd"]), format_usd(r["limit_usd"]), str(r["percent"]),
            format_usd(r["projected_usd"]) if r["projected_usd"] is not None else "-", f"{r['unpriced_calls']:,}", last,
        )  # fmt: skip
    console().print(table)


def _describe(budget: Budget) -> str:
    thresholds = ", ".join(f"{t}%" for t in budget.thresholds_pct)
    where = f"{budget.period} ({budget.timezone})"
    return f"${format_usd(budget.limit_usd)} per {where} for {_scope(budget)}, alerts at {thresholds}"


def _scope(budget: Budget) -> str:
    if budget.scope == "global":
        return "all calls"
    if budget.scope == "tag":
        return f"tag {budget.tag}={budget.value}"
    return f"{budget.scope}={budget.value}"


def _scope_row(row: dict[str, Any]) -> str:
    if row["scope"] == "global":
        return "all calls"
    if row["scope"] == "tag":
        return f"tag {row['tag_key']}={row['scope_value']}"
    return f"{row['scope']}={row['scope_value']}"


def _mask(spec: str) -> str:
    kind, _, target = spec.partition(":")
    return f"{kind}:{mask_url(target)}" if kind in ("webhook", "slack") else spec


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
