"""Options shared by the commands that price stored calls again (``reprice``, ``whatif``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import click

from otel_llm_cost._report_render import format_usd
from otel_llm_cost._selection import SelectionError, parse_when
from otel_llm_cost.environment_variables import OTEL_LLM_COST_PRICES_FILE
from otel_llm_cost.overrides import OverridesError
from otel_llm_cost.pricing import COMPUTED, REPORTED, Pricer

F = TypeVar("F", bound=Callable[..., Any])


def period_options(function: F) -> F:
    """``--since`` and ``--until``: a date, a time or an age such as ``7d``."""
    function = click.option(
        "--until",
        metavar="WHEN",
        help="Only calls that started before then. A date counts whole: --until 2025-03-31 includes the 31st.",
    )(function)
    return click.option(
        "--since",
        metavar="WHEN",
        help="Only calls that started at or after WHEN: 2025-03-01, 2025-03-01T12:00 (UTC) or an age: 7d, 12h.",
    )(function)


def parse_period(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """The two instants, or a one-line error naming the bad option."""
    try:
        start = parse_when(since) if since else None
    except SelectionError as exc:
        raise click.ClickException(f"--since: {exc}") from None
    try:
        end = parse_when(until, end=True) if until else None
    except SelectionError as exc:
        raise click.ClickException(f"--until: {exc}") from None
    if start is not None and end is not None and end <= start:
        raise click.ClickException(f"--until {until} is not after --since {since}: no call can match")
    return start, end


def prefer_option(function: F) -> F:
    """``--prefer computed|reported``: which cost counts when a span carried its own."""
    return click.option(
        "--prefer",
        type=click.Choice([COMPUTED, REPORTED]),
        default=COMPUTED,
        show_default=True,
        help="Which cost counts when a span carried its own: ours, or the span's (both stay stored).",
    )(function)


def prices_file_option(function: F) -> F:
    """``--prices-file``: the overrides the processor prices with, so stored rows are priced alike."""
    return click.option(
        "--prices-file",
        type=click.Path(dir_okay=False),
        envvar=OTEL_LLM_COST_PRICES_FILE,
        show_envvar=True,
        help="Prices overrides file (TOML, JSON or YAML): custom models, discounts, fixes.",
    )(function)


def make_pricer(prefer: str, prices_file: str | None) -> Pricer:
    """The pricer commands price with: the catalog in use (bundled, or the one `prices update`
    stored; never fetched here) plus the overrides file. A bad file is a one-line error."""
    from otel_llm_cost._catalog_update import configured_pricer

    try:
        return configured_pricer(prices_file, prefer=prefer)
    except OverridesError as exc:
        raise click.ClickException(str(exc)) from exc


def decimal_text(value: Decimal | None) -> str | None:
    """Money for JSON: exact, without exponent or trailing zeros (Decimal('1.500') -> '1.5')."""
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def signed_usd(value: Decimal | None) -> str:
    """A difference in dollars with its sign: +$0.0136, -$1.2000, or - when there is none."""
    if value is None:
        return "-"
    return ("-" if value < 0 else "+" if value > 0 else "") + format_usd(abs(value))
