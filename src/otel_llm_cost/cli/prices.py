"""``otel-llm-cost prices``: look at the price catalog, check an overrides file, see what a new
catalog or overrides file would change, and (only when asked) fetch the published catalog."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import click
from rich.table import Table

from otel_llm_cost import _catalog_update
from otel_llm_cost._price_diff import CatalogFileError, RateChange, diff, load_catalog_file, plans_in_force
from otel_llm_cost._rate_plan import RatePlan
from otel_llm_cost.catalog import model_plans
from otel_llm_cost.cli._common import console, format_option
from otel_llm_cost.cli._options import prices_file_option
from otel_llm_cost.overrides import OverridesError, load_overrides
from otel_llm_cost.pricing import Pricer

# Rates shown as columns by `prices list`; `show` lists every rate a model has.
_LIST_RATES = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")


def _at_option(function: Any) -> Any:
    return click.option(
        "--at",
        "at_day",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="The day whose prices to use (UTC). Default: today.",
    )(function)


def _catalog_option(function: Any) -> Any:
    return click.option(
        "--catalog",
        "catalog_file",
        type=click.Path(dir_okay=False),
        help="A genai-prices data JSON file to use instead of the catalog in use (bundled or updated).",
    )(function)


@click.group("prices")
def prices() -> None:
    """Show, check, diff and update the prices.

    The catalog in use (genai-prices, bundled or fetched with `update`) and an overrides file.

    \b
    Examples:
      otel-llm-cost prices show claude-sonnet-4-5          # every rate, period, tier and variant
      otel-llm-cost prices show gpt-4o --provider azure --at 2025-06-01
      otel-llm-cost prices list --provider openai          # models and their rates today
      otel-llm-cost prices check prices.toml               # validate an overrides file
      otel-llm-cost prices diff --prices-file prices.toml  # what the file changes, old -> new
      otel-llm-cost prices update                          # fetch the published catalog (asks the network)
    """


@prices.command("show")
@click.argument("model")
@click.option("--provider", help="Provider as spans name it (openai, aws.bedrock, gcp.vertex_ai, ...).")
@_at_option
@prices_file_option
@_catalog_option
@format_option("A table for people, JSON for programs.")
def show(
    model: str,
    provider: str | None,
    at_day: datetime | None,
    prices_file: str | None,
    catalog_file: str | None,
    output_format: str,
) -> None:
    """Show the model a name resolves to and every rate it has, with dates, tiers and variants."""
    pricer = _pricer(prices_file, catalog_file)
    found = pricer.resolve(provider, model)
    if found is None:
        where = f" for provider {provider!r}" if provider else ""
        raise click.ClickException(f"no price for model {model!r}{where} in {pricer.price_version}")
    resolved_provider, resolved_model = found
    day = _day(at_day)
    unique = {p.price_id: p for p in model_plans(pricer, resolved_provider, resolved_model)}
    plans = sorted(
        unique.values(),
        key=lambda p: (p.variant, p.time_of_day or "", p.effective_from or date.min),
    )
    if output_format == "json":
        rows = [{**_plan_json(p), "in_force": _in_force(p, day)} for p in plans]
        click.echo(json.dumps({"model": model, "provider_id": resolved_provider.id, "model_id": resolved_model.id,
                               "model_name": resolved_model.name, "price_version": pricer.price_version,
                               "at": day.isoformat(), "prices": rows}, indent=2))  # fmt: skip
        return
    out = console()
    out.print(
        f"[bold]{model}[/] → {resolved_provider.id}/{resolved_model.id} ({resolved_model.name or resolved_model.id})"
        f", {pricer.price_version}; USD per million tokens; ▶ = in force on {day}"
    )
    table = Table("", "variant", "from", "to", "hours (UTC)", "rates", "source")
    for plan in plans:
        rates = "\n".join(f"{key} {text}" for key, text in plan.rates.items())
        table.add_row("▶" if _in_force(plan, day) else "", plan.variant or "standard", _date(plan.effective_from),
                      _date(plan.effective_to), plan.time_of_day or "", rates, plan.source)  # fmt: skip
    out.print(table)


@prices.command("list")
@click.option("--provider", help="Only this provider (catalog id, e.g. openai, anthropic, aws).")
@_at_option
@prices_file_option
@_catalog_option
@format_option("A table for people, JSON for programs.")
def list_prices(
    provider: str | None, at_day: datetime | None, prices_file: str | None, catalog_file: str | None, output_format: str
) -> None:
    """List the models and their standard rates on a day (USD per million tokens)."""
    pricer = _pricer(prices_file, catalog_file)
    plans = [
        plan
        for (provider_id, _, variant, time_of_day), plan in plans_in_force(pricer, _day(at_day)).items()
        if variant == "" and time_of_day is None and (provider is None or provider_id == provider.lower())
    ]
    plans.sort(key=lambda p: (p.provider_id, p.model_id))
    if not plans:
        raise click.ClickException(f"no models for provider {provider!r}" if provider else "the catalog is empty")
    if output_format == "json":
        click.echo(json.dumps([_plan_json(p) for p in plans], indent=2))
        return
    table = Table("provider", "model", *(k.removesuffix("_mtok").replace("_", " ") for k in _LIST_RATES), "more")
    for plan in plans:
        more = ", ".join(k for k in plan.rates if k not in _LIST_RATES)
        table.add_row(plan.provider_id, plan.model_id, *(plan.rates.get(k, "") for k in _LIST_RATES), more)
    console().print(table)


@prices.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def check(file: str) -> None:
    """Validate an overrides file; exit 1 with the line and key of the first problem."""
    try:
        overrides = load_overrides(file)
    except OverridesError as exc:
        raise click.ClickException(str(exc)) from exc
    models = sum(len(p.models) for p in overrides.custom_providers)
    discounts = len(overrides.provider_discounts) + len(overrides.model_discounts)
    click.echo(f"{file}: OK ({models} custom models, {discounts} discounts, {len(overrides.fixes)} fixes; "
               f"price_version suffix +{overrides.version})")  # fmt: skip


@prices.command("diff")
@prices_file_option
@_catalog_option
@_at_option
@format_option("A table for people, JSON for programs.")
def diff_command(
    prices_file: str | None, catalog_file: str | None, at_day: datetime | None, output_format: str
) -> None:
    """Show what a new catalog and/or overrides file would change: rates added, removed, old → new.

    Compared with the catalog in use, without overrides, on one day (--at, default today).
    """
    if prices_file is None and catalog_file is None:
        raise click.ClickException("give --prices-file and/or --catalog: what to compare with the catalog in use")
    day = _day(at_day)
    changes = diff(_pricer(None, None), _pricer(prices_file, catalog_file), day)
    if output_format == "json":
        click.echo(json.dumps([_change_json(c) for c in changes], indent=2))
        return
    out = console()
    if not changes:
        out.print(f"No rate changes on {day}.")
        return
    table = Table("provider", "model", "variant", "rate", "change", "old", "new")
    for c in changes:
        table.add_row(c.provider_id, c.model_id, c.variant or "standard", c.price_key, c.kind, c.old or "", c.new or "")
    out.print(table)
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in ("changed", "added", "removed")}
    out.print(f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} removed rates on {day}.")


prices.add_command(_catalog_update.update_command)


def _pricer(prices_file: str | None, catalog_file: str | None) -> Pricer:
    try:
        if catalog_file is not None:
            snapshot, version = load_catalog_file(catalog_file)
        else:
            snapshot, version = _catalog_update.catalog_in_use()
        return Pricer(snapshot=snapshot, catalog_version=version, prices_file=prices_file)
    except (OverridesError, CatalogFileError) as exc:
        raise click.ClickException(str(exc)) from exc


def _day(at_day: datetime | None) -> date:
    return at_day.date() if at_day is not None else datetime.now(timezone.utc).date()


def _in_force(plan: RatePlan, day: date) -> bool:
    return (plan.effective_from is None or plan.effective_from <= day) and (
        plan.effective_to is None or day < plan.effective_to
    )


def _date(value: date | None) -> str:
    return value.isoformat() if value is not None else "…"


def _plan_json(plan: RatePlan) -> dict[str, Any]:
    return {"price_id": plan.price_id, "provider_id": plan.provider_id, "model_id": plan.model_id,
            "variant": plan.variant, "effective_from": plan.effective_from and plan.effective_from.isoformat(),
            "effective_to": plan.effective_to and plan.effective_to.isoformat(), "time_of_day": plan.time_of_day,
            "rates": plan.rates, "source": plan.source, "price_version": plan.price_version}  # fmt: skip


def _change_json(change: RateChange) -> dict[str, Any]:
    return {"provider_id": change.provider_id, "model_id": change.model_id, "variant": change.variant,
            "time_of_day": change.time_of_day, "rate": change.price_key, "change": change.kind,
            "old": change.old, "new": change.new}  # fmt: skip
