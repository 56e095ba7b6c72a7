"""Price a :class:`CallRecord`: pure computation, no I/O.

genai-prices owns the catalog and the model matching. Its ``calc_price`` costs 50-125 µs per call
because it validates and decomposes the usage every time, so we call into the catalog once per
(provider, model, price period, variant) and keep a :class:`RatePlan` (``_rate_plan``). Per span
that leaves a few integer subtractions and Decimal multiplications.
``tests/test_pricing_differential.py`` checks that the result equals ``calc_price`` to the last digit.

The per-span path is kept to ~2 µs: one dict lookup keyed on the span's own strings, service tier
and day finds the plan (bypassing model matching), each rate is stored per token so a unit costs
one Decimal multiplication, and units no span can report (video, web searches, ...) are dropped.

An overrides file (``overrides.py``) adds custom models, fixes upstream rates for a date range and
applies negotiated discounts; the plans it touches are marked ``source='overrides'`` and every
plan of such a Pricer carries the file's hash in its ``price_version``.

Rules (see DESIGN.md): an unpriceable call gets ``cost_usd=None`` and a status saying why, never 0;
prices are taken at the span's start time; reasoning tokens are output tokens.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Final

import genai_prices
from genai_prices import data_snapshot, types

from otel_llm_cost._price_periods import PriceContext, context_for_service_tier, resolve_price
from otel_llm_cost._providers import catalog_provider_id
from otel_llm_cost._rate_plan import RatePlan, apply, plan_for
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.overrides import PriceOverrides, load_overrides

logger = logging.getLogger(__name__)

PRICE_VERSION: Final = f"genai-prices=={genai_prices.__version__}"
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

# Span-key cache entries kept before starting afresh (one per provider, model pair, tier and day).
_SPAN_CACHE_SIZE: Final = 4096

__all__ = ("PRICE_VERSION", "Cost", "Pricer", "RatePlan")


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


_SpanKey = tuple[str | None, str | None, str | None, str | None, int]


@dataclass
class Pricer:
    """Prices call records against the genai-prices catalog, caching each resolution.

    Not thread-safe by design: one lives on the worker thread.

    Args:
        snapshot: the catalog to use; the one bundled with genai-prices by default (no network).
        prefer: which cost ``cost_usd`` counts when a span carries its own (``gen_ai.usage.cost``,
            ``operation.cost``, ...): ``"computed"`` (default; the reported one fills in only when
            we cannot price) or ``"reported"`` (the span's own wins when present). Both are stored.
        prices_file: an overrides file (TOML, JSON or YAML; see ``overrides.py`` and the README),
            read and checked now: a bad file raises :class:`~otel_llm_cost.overrides.OverridesError`.
        overrides: already loaded overrides (instead of ``prices_file``).
        catalog_version: the version label of ``snapshot`` when it is not the bundled catalog (a
            fetched feed, a test's edited copy); default ``genai-prices==<installed version>``.
    """

    snapshot: data_snapshot.DataSnapshot = field(default_factory=data_snapshot.get_snapshot)
    prefer: str = "computed"
    prices_file: str | os.PathLike[str] | None = None
    overrides: PriceOverrides | None = None
    catalog_version: str | None = None
    _resolutions: dict[tuple[str | None, str], _Resolution] = field(default_factory=dict, init=False)
    # (span provider, response model, request model, service tier, UTC day) -> the plan, or the
    # resolution when there is no plan for the whole day (an unknown model, or time-of-day prices).
    _by_span_key: dict[_SpanKey, RatePlan | _Resolution] = field(default_factory=dict, init=False)
    _plans: dict[tuple[object, ...], RatePlan] = field(default_factory=dict, init=False)
    _unsaved_plans: dict[str, RatePlan] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.prefer not in (COMPUTED, REPORTED):
            raise ValueError(f"prefer must be {COMPUTED!r} or {REPORTED!r}, got {self.prefer!r}")
        if self.prices_file is not None:
            if self.overrides is not None:
                raise ValueError("pass either prices_file or overrides, not both")
            self.overrides = load_overrides(self.prices_file, snapshot=self.snapshot)

    @property
    def price_version(self) -> str:
        """The version stamped on every plan: the catalog's, plus the overrides file's hash."""
        catalog = self.catalog_version or PRICE_VERSION
        return catalog if self.overrides is None else f"{catalog}+{self.overrides.version}"

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

    def take_new_plans(self) -> list[RatePlan]:
        """Rate plans resolved since the last call, for the store's ``model_prices`` table."""
        plans = list(self._unsaved_plans.values())
        self._unsaved_plans.clear()
        return plans

    def requeue_plans(self, plans: list[RatePlan]) -> None:
        """Give back plans whose write failed, so the next batch stores them."""
        for plan in plans:
            self._unsaved_plans.setdefault(plan.price_id, plan)

    def resolve(self, provider: str | None, model_ref: str) -> tuple[types.Provider, types.ModelInfo] | None:
        """The catalog (or custom) provider and model a span's provider and model name price as."""
        resolution = self._resolve(catalog_provider_id(provider), model_ref)
        if resolution.provider is None or resolution.model is None:
            return None
        return resolution.provider, resolution.model

    def plan_for(
        self, provider: types.Provider, model: types.ModelInfo, when: datetime, context: PriceContext = ()
    ) -> RatePlan:
        """The rate plan for a model at an instant under a request context (cached)."""
        return self._plan(_Resolution(provider, model, time_of_day=True), when, context)

    def _compute(self, record: CallRecord) -> Cost:
        if record.usage_error:
            return Cost(INVALID_USAGE, record.usage_error)
        if record.input_tokens is None and record.output_tokens is None:  # not record.has_usage
            return Cost(NO_USAGE, "the span reports no token usage")
        start_time_ns = record.start_time_ns
        # The span's own strings are the key: catalog_provider_id and model matching run once.
        key = (record.provider, record.response_model, record.request_model, record.service_tier,
               start_time_ns // _NS_PER_DAY)  # fmt: skip
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
                context = context_for_service_tier(record.service_tier)
                try:
                    found = self._plan(resolution, _instant(start_time_ns), context)
                except (ValueError, ArithmeticError) as exc:
                    return Cost(PRICE_ERROR, str(exc)[:500])
            if len(self._by_span_key) >= _SPAN_CACHE_SIZE:
                self._by_span_key.clear()
            self._by_span_key[key] = found
        if not isinstance(found, RatePlan) and (found.model is None or found.provider is None):
            return Cost(UNKNOWN_MODEL, found.miss_detail)
        try:
            # A resolution here has time-of-day prices: the plan is chosen per span.
            plan = (
                found
                if isinstance(found, RatePlan)
                else self._plan(found, _instant(start_time_ns), context_for_service_tier(record.service_tier))
            )
            sums = apply(plan, record)
        except (ValueError, ArithmeticError) as exc:
            return Cost(PRICE_ERROR, str(exc)[:500])
        # Positional: a 13-argument keyword call costs more than the pricing itself.
        # (status, detail, cost, computed cost, source, input, cache read, cache write, output, other, ...)
        return Cost(PRICED, None, None, sums[0], None, sums[1], sums[2], sums[3], sums[4], sums[5],
                    plan.provider_id, plan.model_id, plan.price_id, plan.price_version)  # fmt: skip

    def _resolve(self, provider_id: str | None, model_ref: str) -> _Resolution:
        key = (provider_id, model_ref.lower())
        resolution = self._resolutions.get(key)
        if resolution is None:
            resolution = self._resolutions[key] = self._lookup(provider_id, model_ref)
        return resolution

    def _lookup(self, provider_id: str | None, model_ref: str) -> _Resolution:
        custom = self.overrides.find_custom(model_ref) if self.overrides is not None else None
        if custom is not None:  # the overrides file names this model: it wins over the catalog
            return _Resolution(*custom)
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

    def _plan(self, resolution: _Resolution, when: datetime, context: PriceContext) -> RatePlan:
        assert resolution.provider is not None and resolution.model is not None
        provider, model = resolution.provider, resolution.model
        day = when.date()
        key: tuple[object, ...] = (provider.id, model.id, day, context)
        if resolution.time_of_day:  # one plan per (day, price), the price chosen by the time of day
            key = (*key, id(model.get_prices(when)))
        plan = self._plans.get(key)
        if plan is None:
            resolved = resolve_price(provider, model, when, context, self.overrides)
            plan = self._plans[key] = plan_for(provider.id, model, resolved, self.price_version)
            self._unsaved_plans.setdefault(plan.price_id, plan)
        return plan


def _instant(start_time_ns: int) -> datetime:
    return datetime.fromtimestamp(start_time_ns / 1e9, tz=timezone.utc)
