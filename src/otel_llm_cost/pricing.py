"""Price a :class:`CallRecord`: pure computation, no I/O.

genai-prices owns the catalog and the model matching. Its ``calc_price`` costs 50-125 µs per call
because it validates and decomposes the usage every time, so we call into the catalog once per
(provider, model, price period) and keep a :class:`RatePlan`: the resolved rates plus, for each
priced unit, which more specific priced units must be subtracted from it. Per span that leaves a
few integer subtractions and Decimal multiplications. ``tests/test_pricing_differential.py`` checks
that the result equals ``calc_price`` to the last digit.

The per-span path is kept to ~2 µs: one dict lookup keyed on the span's own strings and day finds
the plan (bypassing model matching), each rate is stored per token so a unit costs one Decimal
multiplication, and units no span can report (audio, web searches, ...) are dropped from the plan.

Rules (see DESIGN.md): an unpriceable call gets ``cost_usd=None`` and a status saying why, never 0;
prices are taken at the span's start time; reasoning tokens are output tokens.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Context, Decimal, DecimalException, Inexact, Rounded
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

# Usage keys we fill from a CallRecord, as indexes into the counts tuple built in _apply; every
# other unit in the catalog counts as 0 for us (_ZERO_COUNT), except the per-request fee (_ONE_COUNT).
_COUNT_SOURCE: Final = {key: i for i, key in enumerate(("input_tokens", "cache_read_tokens", "cache_write_tokens",
                        "output_tokens", "cache_write_1h_tokens", "output_reasoning_tokens"))}  # fmt: skip
_ONE_COUNT: Final = 6
_ZERO_COUNT: Final = 7
# Cost columns, as indexes into the sums _apply returns (0 is the total).
_KIND_INDEX: Final = {"input": 1, "cache_read": 2, "cache_write": 3, "output": 4, "other": 5}
_KIND_BY_TOKEN_TYPE: Final = {"cache_read": "cache_read", "cache_write": "cache_write"}
# Dividing a rate by its unit's ``per`` (a power of ten) is exact; this context proves it per rate.
_EXACT: Final = Context(prec=100, traps=[Inexact, Rounded])
# Span-key cache entries kept before starting afresh (one per provider, model pair and day).
_SPAN_CACHE_SIZE: Final = 4096
_ZERO: Final = Decimal(0)


def _kind(unit: UnitDef) -> str:
    """Which cost column a priced unit adds to: input, cache_read, cache_write, output or other."""
    token_type = unit.dimensions.get("token_type")
    if token_type in _KIND_BY_TOKEN_TYPE:
        return _KIND_BY_TOKEN_TYPE[token_type]
    if unit.dimensions.get("family") == "tokens":
        return unit.dimensions.get("direction", "other")
    return "other"  # per-request fees and other non-token units


# One priced unit for the leaf pass: (position in sum_order, count source, positions of the
# descendants, usage key). Descendants are the priced units more specific than this one
# (cache_read under input, ...): their leaves are subtracted so every token is priced exactly once.
_LeafStep = tuple[int, int, tuple[int, ...], str]
# One priced unit for the cost pass: (kind index, rate, tiers highest first as (start, rate), per).
# ``per`` is None when the rates are per unit already (see _cost_step); else cost = rate * count / per.
_CostStep = tuple[int, Decimal, tuple[tuple[int, Decimal], ...] | None, int | None]
_SpanKey = tuple[str | None, str | None, str | None, int]


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
    # (span provider, response model, request model, UTC day) -> the plan, or the resolution when
    # there is no plan for the whole day (an unknown model, or time-of-day prices).
    _by_span_key: dict[_SpanKey, RatePlan | _Resolution] = field(default_factory=dict, init=False)
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
        if record.input_tokens is None and record.output_tokens is None:  # not record.has_usage
            return Cost(NO_USAGE, "the span reports no token usage")
        start_time_ns = record.start_time_ns
        # The span's own strings are the key: catalog_provider_id and model matching run once.
        key = (record.provider, record.response_model, record.request_model, start_time_ns // _NS_PER_DAY)
        found = self._by_span_key.get(key)
        if found is None:
            models = [m for m in (record.response_model, record.request_model) if m]
            if not models:
                return Cost(NO_MODEL, "the span names no model")
            provider_id = catalog_provider_id(record.provider)
            resolution = self._resolve(provider_id, models[0])
            if resolution.model is None and len(models) > 1 and models[1].lower() != models[0].lower():
                # Azure deployments and proxies often rename the response model; the request may match.
                resolution = self._resolve(provider_id, models[1])
            found = resolution
            if resolution.model is not None and resolution.provider is not None and not resolution.time_of_day:
                try:
                    found = self._plan(resolution, start_time_ns)
                except (ValueError, ArithmeticError) as exc:
                    return Cost(PRICE_ERROR, str(exc)[:500])
            if len(self._by_span_key) >= _SPAN_CACHE_SIZE:
                self._by_span_key.clear()
            self._by_span_key[key] = found
        if not isinstance(found, RatePlan) and (found.model is None or found.provider is None):
            return Cost(UNKNOWN_MODEL, found.miss_detail)
        try:
            # A resolution here has time-of-day prices: the plan is chosen per span.
            plan = found if isinstance(found, RatePlan) else self._plan(found, start_time_ns)
            sums = _apply(plan, record)
        except (ValueError, ArithmeticError) as exc:
            return Cost(PRICE_ERROR, str(exc)[:500])
        # Positional: a 13-argument keyword call costs more than the pricing itself.
        # (status, detail, cost, computed cost, source, input, cache read, cache write, output, other, ...)
        return Cost(PRICED, None, None, sums[0], None, sums[1], sums[2], sums[3], sums[4], sums[5],
                    plan.provider_id, plan.model_id, plan.price_id)  # fmt: skip

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
        descendants = {
            unit.usage_key: [o for o in units if o is not unit and unit.dimensions.items() <= o.dimensions.items()]
            for unit in units
        }
        leaf_first = sorted(units, key=lambda u: (-len(u.dimensions), u.usage_key))
        # A unit no span reports (audio, web searches, ...) whose descendants are unreported too is
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
            leaf_order=tuple(leaf_order),
            sum_order=tuple(_cost_step(unit, value) for unit, value in kept),
        )
        self._unsaved_plans.setdefault(plan.price_id, plan)
        return plan


def _cost_step(unit: UnitDef, price: Decimal | types.TieredPrices) -> _CostStep:
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


def _apply(plan: RatePlan, record: CallRecord) -> list[Decimal]:
    """[total, input, cache_read, cache_write, output, other] in USD. Mirrors genai-prices' leaf
    decomposition, then adds the costs up in its order (catalog order)."""
    total_input = record.input_tokens or 0
    # Indexed by _COUNT_SOURCE, then _ONE_COUNT and _ZERO_COUNT.
    counts = (total_input, record.cache_read_tokens or 0, record.cache_write_tokens or 0, record.output_tokens or 0,
              record.cache_write_1h_tokens or 0, record.reasoning_tokens or 0, 1, 0)  # fmt: skip
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
    # prices), so even a sum past 28 digits rounds the same. Each column has at most two live units
    # (cache_write + cache_write_1h, output + reasoning), so their order within it cannot matter.
    # A zero leaf costs 0 and adding 0 changes no value, so it is skipped.
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
