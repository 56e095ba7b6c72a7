"""Rate plans: one model's resolved rates in one price period, ready to price a span in ~2 µs.

genai-prices' ``calc_price`` validates and decomposes the usage on every call (50-125 µs). A
:class:`RatePlan` does that work once: the rates, stored per token where that is exact, and for
each priced unit which more specific units must be subtracted from it (cache reads from input,
audio from input, ...). Per span that leaves a few integer subtractions and Decimal multiplications
(:func:`apply`). ``tests/test_pricing_differential.py`` checks the result equals ``calc_price``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, DecimalException, Inexact, Rounded
from typing import TYPE_CHECKING, Final

from genai_prices import types
from genai_prices.data_units import unit_data
from genai_prices.units import UnitDef, UnitRegistry

from otel_llm_cost.conventions import CallRecord

if TYPE_CHECKING:
    from otel_llm_cost._price_periods import ResolvedPrice

REGISTRY: Final = UnitRegistry(unit_data)

# Usage keys a CallRecord can fill, as indexes into the counts tuple built in apply(); every other
# unit in the catalog counts as 0 for us (_ZERO_COUNT), except the per-request fee (_ONE_COUNT).
COUNTED_USAGE_KEYS: Final = (
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "cache_write_1h_tokens",
    "output_reasoning_tokens", "input_audio_tokens", "cache_audio_read_tokens", "output_audio_tokens",
    "input_image_tokens", "cache_image_read_tokens", "output_image_tokens",
)  # fmt: skip
_COUNT_SOURCE: Final = {key: i for i, key in enumerate(COUNTED_USAGE_KEYS)}
_ONE_COUNT: Final = len(COUNTED_USAGE_KEYS)
_ZERO_COUNT: Final = _ONE_COUNT + 1
# Cost columns, as indexes into the sums apply() returns (0 is the total).
_KIND_INDEX: Final = {"input": 1, "cache_read": 2, "cache_write": 3, "output": 4, "other": 5}
_KIND_BY_TOKEN_TYPE: Final = {"cache_read": "cache_read", "cache_write": "cache_write"}
# Dividing a rate by its unit's ``per`` (a power of ten) is exact; this context proves it per rate.
_EXACT: Final = Context(prec=100, traps=[Inexact, Rounded])
_ZERO: Final = Decimal(0)

# One priced unit for the leaf pass: (position in sum_order, count source, positions of the
# descendants, usage key). Descendants are the priced units more specific than this one
# (cache_read under input, ...): their leaves are subtracted so every token is priced exactly once.
_LeafStep = tuple[int, int, tuple[int, ...], str]
# One priced unit for the cost pass: (kind index, rate, tiers highest first as (start, rate), per).
# ``per`` is None when the rates are per unit already (see cost_step); else cost = rate * count / per.
_CostStep = tuple[int, Decimal, tuple[tuple[int, Decimal], ...] | None, int | None]


@dataclass(frozen=True, slots=True)
class RatePlan:
    """Resolved rates for one model in one price period; one row of ``model_prices``."""

    price_id: str
    provider_id: str
    model_id: str
    model_name: str | None
    effective_from: date | None
    effective_to: date | None
    rates: dict[str, str]
    tiered: bool
    # Units in leaf-first order (most specific first) for the subtraction pass.
    leaf_order: tuple[_LeafStep, ...]
    # Units in catalog order, to add the costs up in the same order genai-prices does.
    sum_order: tuple[_CostStep, ...]
    price_version: str = ""
    # '' for the standard price; else the request context that selects it, e.g. 'service_tier=flex'.
    variant: str = ""
    # 'genai-prices', or 'overrides' when an overrides file changed these rates (or made the model).
    source: str = "genai-prices"
    # The daily UTC window of an off-peak price ('16:30-00:30'); None = all day.
    time_of_day: str | None = None
    # The rates as the catalog states them, per price key (base rate or tiers).
    prices: tuple[tuple[str, Decimal | types.TieredPrices], ...] = ()


def build_plan(
    provider_id: str,
    model: types.ModelInfo,
    model_price: types.ModelPrice,
    *,
    effective_from: date | None,
    effective_to: date | None,
    price_version: str,
    variant: str = "",
    source: str = "genai-prices",
    time_of_day: str | None = None,
) -> RatePlan:
    """Compile one model price into a :class:`RatePlan` (see the module docstring)."""
    priced: list[tuple[str, UnitDef, Decimal | types.TieredPrices]] = []
    rates: dict[str, str] = {}
    for price_key, value in model_price.__dict__.items():
        if price_key.startswith("_") or value is None:
            continue
        try:
            unit = REGISTRY.unit_for_price_key(price_key)
        except KeyError:
            continue  # genai-prices skips unknown price keys (with a warning); so do we
        priced.append((price_key, unit, value))
        rates[price_key] = rate_text(value)
    units = [u for _, u, _ in priced]
    descendants = {
        unit.usage_key: [o for o in units if o is not unit and unit.dimensions.items() <= o.dimensions.items()]
        for unit in units
    }
    leaf_first = sorted(units, key=lambda u: (-len(u.dimensions), u.usage_key))
    # A unit no span reports (video, web searches, ...) whose descendants are unreported too is
    # always 0: it costs 0 and subtracts nothing, so it gets no step. 'requests' counts 1.
    live: set[str] = set()
    for unit in leaf_first:
        key = unit.usage_key
        if key in _COUNT_SOURCE or key == "requests" or any(d.usage_key in live for d in descendants[key]):
            live.add(key)
    kept = [(unit, value) for _, unit, value in priced if unit.usage_key in live]
    position = {unit.usage_key: i for i, (unit, _) in enumerate(kept)}
    leaf_order: list[_LeafStep] = []
    for unit in leaf_first:
        key = unit.usage_key
        if key == "requests":  # a per-request fee is charged once per call, whatever else is priced
            leaf_order.append((position[key], _ONE_COUNT, (), key))
        elif key in live:
            below = tuple(position[d.usage_key] for d in descendants[key] if d.usage_key in live)
            leaf_order.append((position[key], _COUNT_SOURCE.get(key, _ZERO_COUNT), below, key))
    return RatePlan(
        price_id=price_id(provider_id, model.id, effective_from, rates, price_version, variant, time_of_day),
        provider_id=provider_id,
        model_id=model.id,
        model_name=model.name,
        effective_from=effective_from,
        effective_to=effective_to,
        rates=rates,
        tiered=any(isinstance(v, types.TieredPrices) for _, _, v in priced),
        leaf_order=tuple(leaf_order),
        sum_order=tuple(cost_step(unit, value) for unit, value in kept),
        price_version=price_version,
        variant=variant,
        source=source,
        time_of_day=time_of_day,
        prices=tuple((key, value) for key, _, value in priced),
    )


def plan_for(provider_id: str, model: types.ModelInfo, resolved: ResolvedPrice, price_version: str) -> RatePlan:
    """The plan of a price :func:`~otel_llm_cost._price_periods.resolve_price` resolved: the one
    way both the span path (``Pricer``) and the catalog load build a ``model_prices`` row."""
    return build_plan(
        provider_id,
        model,
        resolved.model_price,
        effective_from=resolved.effective_from,
        effective_to=resolved.effective_to,
        price_version=price_version,
        variant=resolved.variant,
        source="overrides" if resolved.overridden else "genai-prices",
        time_of_day=resolved.time_of_day,
    )


def price_id(
    provider_id: str,
    model_id: str,
    effective_from: date | None,
    rates: dict[str, str],
    price_version: str,
    variant: str = "",
    time_of_day: str | None = None,
) -> str:
    """A row's identity: the same rates for the same period and catalog version get the same id."""
    fingerprint = f"{provider_id}|{model_id}|{effective_from}|{sorted(rates.items())}|{price_version}"
    if variant or time_of_day:  # standard rows keep the ids they had before variants existed
        fingerprint += f"|{variant}|{time_of_day}"
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


def _kind(unit: UnitDef) -> str:
    """Which cost column a priced unit adds to: input, cache_read, cache_write, output or other."""
    token_type = unit.dimensions.get("token_type")
    if token_type in _KIND_BY_TOKEN_TYPE:
        return _KIND_BY_TOKEN_TYPE[token_type]
    if unit.dimensions.get("family") == "tokens":
        return unit.dimensions.get("direction", "other")
    return "other"  # per-request fees and other non-token units


def cost_step(unit: UnitDef, price: Decimal | types.TieredPrices) -> _CostStep:
    """Rates per single unit when ``rate / per`` is exact (per is a power of ten), else as listed.

    Rounding to significant digits commutes with scaling by a power of ten, so ``(rate / per) * n``
    equals genai-prices' ``rate * n / per`` even past 28 digits. The representation may differ
    (``0.01851840`` for ``0.0185184``); the value, and so every comparison and stored column, does not.
    """
    prices = [price.base, *(t.price for t in price.tiers)] if isinstance(price, types.TieredPrices) else [price]
    per: int | None = unit.per
    if str(unit.per).rstrip("0") == "1":
        try:
            prices = [_EXACT.divide(p, Decimal(unit.per)) for p in prices]
            per = None
        except DecimalException:
            pass  # keep rate * count / per for this unit
    tiers = None
    if isinstance(price, types.TieredPrices):
        # The tier is chosen by the whole request's input and applies to every token.
        tiers = tuple((t.start, p) for t, p in reversed(list(zip(price.tiers, prices[1:], strict=True))))
    return _KIND_INDEX[_kind(unit)], prices[0], tiers, per


def apply(plan: RatePlan, record: CallRecord) -> list[Decimal]:
    """[total, input, cache_read, cache_write, output, other] in USD. Mirrors genai-prices' leaf
    decomposition, then adds the costs up in its order (catalog order)."""
    total_input = record.input_tokens or 0
    # Indexed by _COUNT_SOURCE, then _ONE_COUNT and _ZERO_COUNT.
    counts = (total_input, record.cache_read_tokens or 0, record.cache_write_tokens or 0, record.output_tokens or 0,
              record.cache_write_1h_tokens or 0, record.reasoning_tokens or 0, record.input_audio_tokens or 0,
              record.cache_audio_read_tokens or 0, record.output_audio_tokens or 0, record.input_image_tokens or 0,
              record.cache_image_read_tokens or 0, record.output_image_tokens or 0, 1, 0)  # fmt: skip
    sum_order = plan.sum_order
    leaves = [0] * len(sum_order)
    for position, source, descendants, usage_key in plan.leaf_order:
        leaf = counts[source]
        if descendants:
            for descendant in descendants:
                leaf -= leaves[descendant]
        if leaf < 0:
            raise ValueError(f"invalid usage: more specific token counts exceed {usage_key}")
        leaves[position] = leaf
    # Costs add up in catalog order, as calc_price adds its total (and its input and output
    # prices), so even a sum past 28 digits rounds the same. A zero leaf costs 0 and adding 0
    # changes no value, so it is skipped.
    sums = [_ZERO, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO]
    total = _ZERO
    for leaf, (kind, rate, tiers, per) in zip(leaves, sum_order):  # noqa: B905 (same length; strict costs)
        if leaf:
            if tiers is not None:
                for start, tier_rate in tiers:
                    if total_input > start:
                        rate = tier_rate
                        break
            amount = rate * leaf if per is None else rate * leaf / per
            total += amount
            sums[kind] += amount
    sums[0] = total
    return sums


def rate_text(value: Decimal | types.TieredPrices) -> str:
    if isinstance(value, types.TieredPrices):
        tiers = ", ".join(f">{t.start}: {t.price}" for t in value.tiers)
        return f"{value.base} ({tiers})"
    return str(value)
