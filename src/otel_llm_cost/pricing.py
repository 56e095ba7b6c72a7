"""Price a :class:`CallRecord`: pure computation, no I/O.

genai-prices owns the catalog and the model matching. Its ``calc_price`` costs 50-125 µs per call
because it validates and decomposes the usage every time, so we call into the catalog once per
(provider, model, price period) and keep a :class:`RatePlan`: the resolved rates plus, for each
priced unit, which more specific priced units must be subtracted from it. Per span that leaves a
few integer subtractions and Decimal multiplications. ``tests/test_pricing_differential.py`` checks
that the result equals ``calc_price`` to the last digit.

Rules (see DESIGN.md): an unpriceable call gets ``cost_usd=None`` and a status saying why, never 0;
prices are taken at the span's start time; reasoning tokens are output tokens.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Final

import genai_prices
from genai_prices import data_snapshot, types
from genai_prices.data_units import unit_data
from genai_prices.units import UnitDef, UnitRegistry

from otel_llm_cost._providers import catalog_provider_id
from otel_llm_cost.conventions import CallRecord

logger = logging.getLogger(__name__)

PRICE_VERSION: Final = f"genai-prices=={genai_prices.__version__}"
_REGISTRY: Final = UnitRegistry(unit_data)
_NS_PER_DAY: Final = 86_400 * 10**9

# pricing_status values, stored in llm_calls.pricing_status.
PRICED: Final = "priced"
UNKNOWN_MODEL: Final = "unknown_model"
NO_MODEL: Final = "no_model"
NO_USAGE: Final = "no_usage"
INVALID_USAGE: Final = "invalid_usage"
PRICE_ERROR: Final = "price_error"

# cost_source values: which cost cost_usd holds.
COMPUTED: Final = "computed"
REPORTED: Final = "reported"

# Usage keys we fill from a CallRecord; every other unit in the catalog counts as 0 for us.
_KIND_BY_TOKEN_TYPE: Final = {"cache_read": "cache_read", "cache_write": "cache_write"}


def _kind(unit: UnitDef) -> str:
    """Which cost column a priced unit adds to: input, cache_read, cache_write, output or other."""
    token_type = unit.dimensions.get("token_type")
    if token_type in _KIND_BY_TOKEN_TYPE:
        return _KIND_BY_TOKEN_TYPE[token_type]
    if unit.dimensions.get("family") == "tokens":
        return unit.dimensions.get("direction", "other")
    return "other"  # per-request fees and other non-token units


@dataclass(frozen=True, slots=True)
class _PricedUnit:
    usage_key: str
    kind: str
    per: int
    price: Decimal | types.TieredPrices
    # Priced units that are more specific than this one (cache_read under input, ...): their
    # counts are subtracted so every token is priced exactly once, as genai-prices does.
    descendants: tuple[str, ...]


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
    leaf_order: tuple[_PricedUnit, ...]
    # Units in catalog order, to add the costs up in the same order genai-prices does.
    sum_order: tuple[str, ...]
    price_version: str = PRICE_VERSION


@dataclass(slots=True)
class Cost:
    """The priced outcome for one call. Money is Decimal USD; ``None`` means unknown, never 0."""

    pricing_status: str
    pricing_detail: str | None = None
    cost_usd: Decimal | None = None
    computed_cost_usd: Decimal | None = None
    cost_source: str | None = None
    input_cost_usd: Decimal | None = None
    cache_read_cost_usd: Decimal | None = None
    cache_write_cost_usd: Decimal | None = None
    output_cost_usd: Decimal | None = None
    other_cost_usd: Decimal | None = None
    priced_provider: str | None = None
    priced_model: str | None = None
    price_id: str | None = None
    price_version: str = PRICE_VERSION


@dataclass(slots=True)
class _Resolution:
    provider: types.Provider | None = None
    model: types.ModelInfo | None = None
    miss_detail: str | None = None
    # deepseek-style off-peak prices depend on the time of day, so they are not cached per day.
    time_of_day: bool = False


@dataclass
class Pricer:
    """Prices call records against the genai-prices catalog, caching each resolution.

    Not thread-safe by design: one lives on the worker thread.

    Args:
        snapshot: the catalog to use; the one bundled with genai-prices by default (no network).
        prefer: which cost ``cost_usd`` counts when a span carries its own (``gen_ai.usage.cost``,
            ``operation.cost``, ...): ``"computed"`` (default; the reported one fills in only when
            we cannot price) or ``"reported"`` (the span's own wins when present). Both are stored.
    """

    snapshot: data_snapshot.DataSnapshot = field(default_factory=data_snapshot.get_snapshot)
    prefer: str = "computed"
    _resolutions: dict[tuple[str | None, str], _Resolution] = field(default_factory=dict, init=False)
    _plans_by_day: dict[tuple[str, str, int], RatePlan] = field(default_factory=dict, init=False)
    _plans_by_price: dict[tuple[str, str, int], RatePlan] = field(default_factory=dict, init=False)
    _unsaved_plans: dict[str, RatePlan] = field(default_factory=dict, init=False)

    def price(self, record: CallRecord) -> Cost:
        """Return the cost of one call. Never raises for bad data: the status says what went wrong."""
        cost = self._compute(record)
        reported = record.reported_cost_usd
        if reported is not None and (self.prefer == REPORTED or cost.computed_cost_usd is None):
            # The emitter priced it and we are told to trust that, or we could not: count theirs.
            cost.cost_usd, cost.cost_source = reported, REPORTED
        elif cost.computed_cost_usd is not None:
            cost.cost_usd, cost.cost_source = cost.computed_cost_usd, COMPUTED
        if record.reported_cost_error and cost.pricing_detail is None:
            cost.pricing_detail = record.reported_cost_error
        return cost

    def __post_init__(self) -> None:
        if self.prefer not in (COMPUTED, REPORTED):
            raise ValueError(f"prefer must be {COMPUTED!r} or {REPORTED!r}, got {self.prefer!r}")

    def take_new_plans(self) -> list[RatePlan]:
        """Rate plans resolved since the last call, for the store's ``model_prices`` table."""
        plans = list(self._unsaved_plans.values())
        self._unsaved_plans.clear()
        return plans

    def requeue_plans(self, plans: list[RatePlan]) -> None:
        """Give back plans whose write failed, so the next batch stores them."""
        for plan in plans:
            self._unsaved_plans.setdefault(plan.price_id, plan)

    def _compute(self, record: CallRecord) -> Cost:
        if record.usage_error:
            return Cost(INVALID_USAGE, record.usage_error)
        if not record.has_usage:
            return Cost(NO_USAGE, "the span reports no token usage")
        models = [m for m in (record.response_model, record.request_model) if m]
        if not models:
            return Cost(NO_MODEL, "the span names no model")
        provider_id = catalog_provider_id(record.provider)
        resolution = self._resolve(provider_id, models[0])
        if resolution.model is None and len(models) > 1 and models[1].lower() != models[0].lower():
            # Azure deployments and proxies often rename the response model; the request may match.
            resolution = self._resolve(provider_id, models[1])
        if resolution.model is None or resolution.provider is None:
            return Cost(UNKNOWN_MODEL, resolution.miss_detail)
        try:
            plan = self._plan(resolution, record.start_time_ns)
            parts = _apply(plan, record)
        except (ValueError, ArithmeticError) as exc:
            return Cost(PRICE_ERROR, str(exc)[:500])
        total = Decimal(0)
        for usage_key in plan.sum_order:
            total += parts[usage_key][1]
        by_kind = {"input": Decimal(0), "cache_read": Decimal(0), "cache_write": Decimal(0)}
        by_kind.update(output=Decimal(0), other=Decimal(0))
        for kind, amount in parts.values():
            by_kind[kind] += amount
        return Cost(
            PRICED,
            computed_cost_usd=total,
            input_cost_usd=by_kind["input"],
            cache_read_cost_usd=by_kind["cache_read"],
            cache_write_cost_usd=by_kind["cache_write"],
            output_cost_usd=by_kind["output"],
            other_cost_usd=by_kind["other"],
            priced_provider=plan.provider_id,
            priced_model=plan.model_id,
            price_id=plan.price_id,
        )

    def _resolve(self, provider_id: str | None, model_ref: str) -> _Resolution:
        key = (provider_id, model_ref.lower())
        resolution = self._resolutions.get(key)
        if resolution is None:
            resolution = self._resolutions[key] = self._lookup(provider_id, model_ref)
        return resolution

    def _lookup(self, provider_id: str | None, model_ref: str) -> _Resolution:
        try:
            provider, model = self.snapshot.find_provider_model(model_ref, None, provider_id, None)
        except LookupError as exc:
            if provider_id is None or data_snapshot.find_provider_by_id(self.snapshot.providers, provider_id):
                logger.debug("no price for model %r (provider %r): %s", model_ref, provider_id, exc)
                return _Resolution(miss_detail=f"{model_ref!r} is not in the price catalog ({exc})")
            # A provider the catalog does not know (a gateway, a self-hosted proxy): match by model.
            return self._lookup(None, model_ref)
        time_of_day = not isinstance(model.prices, types.ModelPrice) and any(
            isinstance(c.constraint, types.TimeOfDateConstraint) for c in model.prices
        )
        return _Resolution(provider, model, time_of_day=time_of_day)

    def _plan(self, resolution: _Resolution, start_time_ns: int) -> RatePlan:
        assert resolution.provider is not None and resolution.model is not None
        provider, model = resolution.provider, resolution.model
        day = start_time_ns // _NS_PER_DAY
        if not resolution.time_of_day:
            day_key = (provider.id, model.id, day)
            plan = self._plans_by_day.get(day_key)
            if plan is None:
                when = datetime.fromtimestamp(start_time_ns / 1e9, tz=timezone.utc)
                plan = self._plans_by_day[day_key] = self._build_plan(provider, model, when)
            return plan
        when = datetime.fromtimestamp(start_time_ns / 1e9, tz=timezone.utc)
        model_price = model.get_prices(when)
        price_key = (provider.id, model.id, id(model_price))
        plan = self._plans_by_price.get(price_key)
        if plan is None:
            plan = self._plans_by_price[price_key] = self._build_plan(provider, model, when)
        return plan

    def _build_plan(self, provider: types.Provider, model: types.ModelInfo, when: datetime) -> RatePlan:
        model_price = model.get_prices(when)
        effective_from, effective_to = _effective_dates(model, model_price)
        priced: list[tuple[str, UnitDef, Decimal | types.TieredPrices]] = []
        rates: dict[str, str] = {}
        for price_key, value in model_price.__dict__.items():
            if price_key.startswith("_") or value is None:
                continue
            try:
                unit = _REGISTRY.unit_for_price_key(price_key)
            except KeyError:
                continue  # genai-prices skips unknown price keys (with a warning); so do we
            priced.append((price_key, unit, value))
            rates[price_key] = _rate_text(value)
        units = [u for _, u, _ in priced]
        leaf_order = tuple(
            _PricedUnit(
                usage_key=unit.usage_key,
                kind=_kind(unit),
                per=unit.per,
                price=value,
                descendants=tuple(
                    other.usage_key
                    for other in units
                    if other is not unit and unit.dimensions.items() <= other.dimensions.items()
                ),
            )
            for _, unit, value in sorted(priced, key=lambda p: (-len(p[1].dimensions), p[1].usage_key))
        )
        fingerprint = f"{provider.id}|{model.id}|{effective_from}|{sorted(rates.items())}|{PRICE_VERSION}"
        plan = RatePlan(
            price_id=hashlib.sha256(fingerprint.encode()).hexdigest()[:16],
            provider_id=provider.id,
            model_id=model.id,
            model_name=model.name,
            effective_from=effective_from,
            effective_to=effective_to,
            rates=rates,
            tiered=any(isinstance(v, types.TieredPrices) for _, _, v in priced),
            leaf_order=leaf_order,
            sum_order=tuple(unit.usage_key for _, unit, _ in priced),
        )
        self._unsaved_plans.setdefault(plan.price_id, plan)
        return plan


def _usage_counts(record: CallRecord) -> dict[str, int]:
    return {
        "input_tokens": record.input_tokens or 0,
        "cache_read_tokens": record.cache_read_tokens or 0,
        "cache_write_tokens": record.cache_write_tokens or 0,
        "output_tokens": record.output_tokens or 0,
        "cache_write_1h_tokens": record.cache_write_1h_tokens or 0,
        "output_reasoning_tokens": record.reasoning_tokens or 0,
    }


def _apply(plan: RatePlan, record: CallRecord) -> dict[str, tuple[str, Decimal]]:
    """Cost of each priced unit: (kind, USD). Mirrors genai-prices' leaf decomposition."""
    counts = _usage_counts(record)
    total_input = counts["input_tokens"]
    leaves: dict[str, int] = {}
    parts: dict[str, tuple[str, Decimal]] = {}
    for unit in plan.leaf_order:
        if unit.usage_key == "requests":
            leaf = 1  # a per-request fee is charged once per call
        else:
            leaf = counts.get(unit.usage_key, 0) - sum(leaves[d] for d in unit.descendants)
            if leaf < 0:
                raise ValueError(f"invalid usage: more specific token counts exceed {unit.usage_key}")
        leaves[unit.usage_key] = leaf
        price = unit.price
        if isinstance(price, types.TieredPrices):
            # The tier is chosen by the whole request's input and applies to every token.
            rate = price.base
            for tier in reversed(price.tiers):
                if total_input > tier.start:
                    rate = tier.price
                    break
        else:
            rate = price
        parts[unit.usage_key] = (unit.kind, rate * Decimal(leaf) / unit.per)
    return parts


def _effective_dates(model: types.ModelInfo, chosen: types.ModelPrice) -> tuple[date | None, date | None]:
    """The date range over which ``chosen`` is the model's price (None = open-ended)."""
    if isinstance(model.prices, types.ModelPrice):
        return None, None
    starts = [
        c.constraint.start_date if isinstance(c.constraint, types.StartDateConstraint) else None for c in model.prices
    ]
    index = next((i for i, c in enumerate(model.prices) if c.prices is chosen), None)
    if index is None:
        return None, None
    start = starts[index]
    later = [s for s in starts[index + 1 :] if s is not None and (start is None or s > start)]
    return start, min(later) if later else None


def _rate_text(value: Decimal | types.TieredPrices) -> str:
    if isinstance(value, types.TieredPrices):
        tiers = ", ".join(f">{t.start}: {t.price}" for t in value.tiers)
        return f"{value.base} ({tiers})"
    return str(value)
