"""``otel-llm-cost whatif``: what the stored traffic would have cost on another model."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal

import click
from rich.table import Table

from otel_llm_cost import currency as currencies
from otel_llm_cost._report_render import format_usd
from otel_llm_cost._selection import CallFilter
from otel_llm_cost.cli._common import console, db_option, format_option
from otel_llm_cost.cli._options import decimal_text, make_pricer, parse_period, period_options, prices_file_option
from otel_llm_cost.report import ReportError, open_database
from otel_llm_cost.whatif import ModelComparison, WhatIf, WhatIfError, what_if

_FOUR_PLACES = Decimal("0.0001")


@click.command("whatif")
@db_option
@click.option("--model", "target_model", required=True, help="The model to price the traffic on, e.g. gpt-5-mini.")
@click.option("--provider", "target_provider", help="The provider selling it, when several do (e.g. azure, bedrock).")
@period_options
@click.option("--from-model", help="Only calls that used this model (response, request or priced model).")
@click.option(
    "--currency", default="USD", show_default=True, help="Show amounts in this currency (rates: otel-llm-cost rates)."
)
@prices_file_option
@format_option("A table for people, JSON (money as exact decimal strings) for programs.")
def whatif_command(
    db_path: str,
    target_model: str,
    target_provider: str | None,
    since: str | None,
    until: str | None,
    from_model: str | None,
    currency: str,
    prices_file: str | None,
    output_format: str,
) -> None:
    """Price stored traffic on another model.

    Every stored call (duplicates and calls without usage left out) is priced again on --model
    with the same tokens, at its own start time: tiers and cache prices included. One row per
    model the calls used: calls, tokens, what they cost, what they would cost, the difference.
    The database is opened read-only.

    \b
    Examples:
      otel-llm-cost whatif --model gpt-5-mini --since 2025-03-01 --until 2025-03-31
      otel-llm-cost whatif --model claude-sonnet-4-5 --from-model gpt-4o --since 30d
      otel-llm-cost whatif --model gpt-5-mini --currency EUR
    """
    start, end = parse_period(since, until)
    selection = CallFilter(since=start, until=end, model=from_model)
    pricer = make_pricer("computed", prices_file)
    try:
        con = open_database(db_path)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = what_if(
            con, pricer, target_model, target_provider=target_provider, selection=selection,
            currency=currency,
        )  # fmt: skip
    except (WhatIfError, currencies.UnknownCurrency) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        con.close()
    if output_format == "json":
        click.echo(json.dumps(_as_json(result), indent=2))
    else:
        _print(result, selection)


def _money(value: Decimal | None, code: str) -> str:
    if code == currencies.USD:
        return format_usd(value)
    if value is None:
        return "n/a"
    return f"{value.quantize(_FOUR_PLACES, rounding=ROUND_HALF_EVEN):,} {code}"


def _difference(value: Decimal | None, code: str) -> str:
    if value is None:
        return "-"
    return ("-" if value < 0 else "+" if value > 0 else "") + _money(abs(value), code)


def _print(result: WhatIf, selection: CallFilter) -> None:
    out = console()
    target = f"{result.target_provider}/{result.target_model}"
    if not result.rows:
        out.print(f"No stored calls with usage match ({selection.describe() or 'all calls'}).")
        return
    table = Table(title=f"The same traffic on {target}", title_justify="left")
    for column in ("provider", "model", "calls", "input tokens", "cached tokens", "output tokens", "actual cost",
                   f"cost on {result.target_model}", "difference"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("provider", "model") else "right")
    code = result.currency
    for row in [*result.rows, result.total]:
        is_total = row is result.total
        table.add_row(
            "total" if is_total else row.provider or "-", "" if is_total else row.model or "-", f"{row.calls:,}",
            f"{row.input_tokens:,}", f"{row.cache_read_tokens + row.cache_write_tokens:,}", f"{row.output_tokens:,}",
            _money(row.actual_cost, code) + (f" ({row.unpriced_calls:,} unpriced)" if row.unpriced_calls else ""),
            _money(row.target_cost, code), _difference(row.difference, code),
            end_section=row is result.rows[-1],
        )  # fmt: skip
    out.print(table)
    if result.missing_cache_prices:
        missing = " and ".join(result.missing_cache_prices)
        out.print(f"{target} has no {missing} price: those tokens are charged at its input rate, as genai-prices does.")
    if code != currencies.USD:
        out.print(f"Converted from USD at each day's {code} rate (or the latest earlier one); n/a: no rate that early.")
    if result.total.unpriced_calls or result.total.target_unpriced_calls:
        out.print("No difference is shown where some calls have no cost on one side.")


def _as_json(result: WhatIf) -> dict[str, object]:
    def row(r: ModelComparison) -> dict[str, object]:
        return {
            "provider": r.provider,
            "model": r.model,
            "calls": r.calls,
            "input_tokens": r.input_tokens,
            "cache_read_tokens": r.cache_read_tokens,
            "cache_write_tokens": r.cache_write_tokens,
            "output_tokens": r.output_tokens,
            "actual_cost": decimal_text(r.actual_cost),
            "unpriced_calls": r.unpriced_calls,
            "target_cost": decimal_text(r.target_cost),
            "target_unpriced_calls": r.target_unpriced_calls,
            "difference": decimal_text(r.difference),
        }

    return {
        "target_provider": result.target_provider,
        "target_model": result.target_model,
        "currency": result.currency,
        "missing_cache_prices": result.missing_cache_prices,
        "models": [row(r) for r in result.rows],
        "total": row(result.total),
    }
