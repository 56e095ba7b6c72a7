"""Which rates apply to one call: the price period, the request's variant (service tier, batch) and
the overrides file's fixes and discounts, with the dates over which that answer holds.

One function, :func:`resolve_price`, answers it both for the per-span path (through the Pricer's
per-day cache) and for the catalog load, so a call's ``price_id`` is always a row of
``model_prices``.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from genai_prices import types

if TYPE_CHECKING:
    from otel_llm_cost.overrides import PriceOverrides

# A request context as sorted (key, value) pairs, e.g. (("service_tier", "flex"),).
PriceContext = tuple[tuple[str, str], ...]

# Service tiers that mean the standard price (OpenAI "auto"/"default" resolve to a tier the
# response names; Anthropic "standard"/"standard_only" are the list price).
_STANDARD_TIERS = frozenset({"auto", "standard", "standard_only", "on_demand"})


def context_for_service_tier(service_tier: str | None) -> PriceContext:
    """The genai-prices price context for a span's service tier.

    genai-prices selects batch prices with ``processing=batch`` and OpenAI/Google tiers with
    ``service_tier=<tier>``; Anthropic reports a batch call as ``service_tier=batch``, so that
    one value is mapped to ``processing=batch`` (our one addition; see README).
    """
    if not service_tier:
        return ()
    tier = service_tier.strip()
    if tier.lower() == "batch":
        return (("processing", "batch"),)
    if tier.lower() in _STANDARD_TIERS:
        return ()
    return (("service_tier", tier),)


def variant_label(context: PriceContext) -> str:
    return ",".join(f"{key}={value}" for key, value in context)


@dataclass(frozen=True, slots=True)
class ResolvedPrice:
    model_price: types.ModelPrice
    effective_from: date | None
    effective_to: date | None
    variant: str
    time_of_day: str | None
    overridden: bool


def resolve_price(
    provider: types.Provider,
    model: types.ModelInfo,
    when: datetime,
    context: PriceContext,
    overrides: PriceOverrides | None,
) -> ResolvedPrice:
    """The rates for ``model`` at ``when`` under ``context`` and ``overrides`` (see module docstring)."""
    # genai-prices ignores the context for a model borrowed from a fallback provider (Azure
    # pricing an OpenAI model): only the provider's own models have its variants.
    if context and not any(m is model for m in provider.models):
        context = ()
    standard = model.get_prices(when)
    resolved = model.get_prices(when, dict(context)) if context else standard
    variant = variant_label(context) if resolved.__dict__ != standard.__dict__ else ""
    day = when.date()
    boundaries = set(_period_starts(model))
    if variant:
        for price_variant in model.price_variants or ():
            if isinstance(price_variant.constraint, types.StartDateConstraint) and all(
                dict(context).get(k) == v for k, v in price_variant.when.items()
            ):
                boundaries.add(price_variant.constraint.start_date)
    overridden = False
    if overrides is not None:
        for fix in overrides.fixes_for(provider.id, model.id):
            boundaries.add(fix.effective_from)
            if fix.effective_to is not None:
                boundaries.add(fix.effective_to)
            if fix.effective_from <= day and (fix.effective_to is None or day < fix.effective_to):
                resolved = copy(resolved)
                resolved.__dict__.update(fix.rates)
                overridden = True
        percent = overrides.discount_for(provider.id, model.id)
        if percent:
            resolved = discounted(resolved, percent)
            overridden = True
    if overrides is not None and overrides.is_custom(provider.id, model.id):
        overridden = True
    effective_from = max((b for b in boundaries if b <= day), default=None)
    effective_to = min((b for b in boundaries if b > day), default=None)
    return ResolvedPrice(resolved, effective_from, effective_to, variant, _time_of_day(model, standard), overridden)


def discounted(model_price: types.ModelPrice, percent: Decimal) -> types.ModelPrice:
    """Every rate (tiers included) scaled by ``(100 - percent) / 100``."""
    factor = (100 - percent) / 100
    scaled = copy(model_price)
    for key, value in list(scaled.__dict__.items()):
        if key.startswith("_") or value is None:
            continue
        if isinstance(value, types.TieredPrices):
            tiers = [types.Tier(start=t.start, price=t.price * factor) for t in value.tiers]
            scaled.__dict__[key] = types.TieredPrices(base=value.base * factor, tiers=tiers)
        elif isinstance(value, Decimal):
            scaled.__dict__[key] = value * factor
    return scaled


def segment_dates(model: types.ModelInfo, overrides: PriceOverrides | None, provider_id: str) -> list[date]:
    """One date inside each span of days over which the model's rates (any variant) cannot change."""
    boundaries = set(_period_starts(model))
    for price_variant in model.price_variants or ():
        if isinstance(price_variant.constraint, types.StartDateConstraint):
            boundaries.add(price_variant.constraint.start_date)
    if overrides is not None:
        for fix in overrides.fixes_for(provider_id, model.id):
            boundaries.add(fix.effective_from)
            if fix.effective_to is not None:
                boundaries.add(fix.effective_to)
    ordered = sorted(boundaries)
    return [ordered[0] - timedelta(days=1), *ordered] if ordered else [date(2024, 1, 1)]


def contexts(model: types.ModelInfo) -> list[PriceContext]:
    """The standard context and every variant's, for a model."""
    found: list[PriceContext] = [()]
    for price_variant in model.price_variants or ():
        context = tuple(sorted(price_variant.when.items()))
        if context not in found:
            found.append(context)
    return found


def times_of_day(model: types.ModelInfo) -> list[tuple[int, int]]:
    """(hour, minute) instants that together reach every time-of-day price of the model."""
    instants = [(0, 0)]
    if not isinstance(model.prices, types.ModelPrice):
        for conditional in model.prices:
            if isinstance(conditional.constraint, types.TimeOfDateConstraint):
                start = conditional.constraint.start_time
                instants.append((start.hour, start.minute))
                end = conditional.constraint.end_time
                instants.append((end.hour, end.minute))
    return instants


def _period_starts(model: types.ModelInfo) -> list[date]:
    if isinstance(model.prices, types.ModelPrice):
        return []
    return [c.constraint.start_date for c in model.prices if isinstance(c.constraint, types.StartDateConstraint)]


def _time_of_day(model: types.ModelInfo, chosen: types.ModelPrice) -> str | None:
    if isinstance(model.prices, types.ModelPrice):
        return None
    for conditional in model.prices:
        if conditional.prices is chosen and isinstance(conditional.constraint, types.TimeOfDateConstraint):
            start, end = conditional.constraint.start_time, conditional.constraint.end_time
            return f"{start:%H:%M}-{end:%H:%M}"
    return None
