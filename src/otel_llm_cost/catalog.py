"""The whole price catalog in DuckDB: ``model_prices``, one row per provider x model x variant x
price period (and off-peak window), bulk-loaded once per catalog version.

Every row is compiled by the same code that prices spans (``_price_periods.resolve_price`` and
``_rate_plan.plan_for``), so the ``price_id`` a call records is always a row of the loaded
version. A new genai-prices release, or a changed overrides file, is a new ``price_version``: its
rows are added beside the old ones, which stay for audit and re-pricing. ``model_price_catalogs``
records each version loaded, so a process start costs one lookup when the version is there already.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, time, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import duckdb
import pyarrow as pa
from genai_prices import types

from otel_llm_cost._price_periods import contexts, resolve_price, segment_dates, times_of_day
from otel_llm_cost._rate_plan import RatePlan, plan_for

if TYPE_CHECKING:
    from otel_llm_cost.pricing import Pricer

logger = logging.getLogger(__name__)

MONEY: Final = pa.decimal128(38, 18)
# Base-rate columns of model_prices (migrations 0001 and 0008), by genai-prices price key.
RATE_COLUMNS: Final = (
    "input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok", "cache_write_1h_mtok", "input_audio_mtok",
    "cache_audio_read_mtok", "output_audio_mtok", "input_image_mtok", "cache_image_read_mtok", "output_image_mtok",
    "requests_kcount",
)  # fmt: skip
_QUANTUM: Final = Decimal(1).scaleb(-18)
# Plans per (snapshot, price version): building the catalog's ~3,000 plans costs ~0.2 s, once per process.
_built: dict[tuple[int, str], list[RatePlan]] = {}
# Rows per slice of CatalogLoader: a few milliseconds of work after each batch written.
_SLICE_ROWS: Final = 500


def catalog_plans(pricer: Pricer) -> list[RatePlan]:
    """Every rate plan of the pricer's catalog and overrides, one per ``model_prices`` row."""
    key = (id(pricer.snapshot), pricer.price_version)
    plans = _built.get(key)
    if plans is None:
        by_id: dict[str, RatePlan] = {}
        for plan in _iter_plans(pricer):
            by_id.setdefault(plan.price_id, plan)
        plans = _built[key] = list(by_id.values())
    return plans


def _iter_plans(pricer: Pricer) -> Iterator[RatePlan]:
    overrides = pricer.overrides
    providers = list(pricer.snapshot.providers)
    if overrides is not None:
        providers += overrides.custom_providers
    by_id = {p.id: p for p in pricer.snapshot.providers}  # fallbacks are catalog providers, never custom ones
    for provider in providers:
        for model in models_priced_by(provider, by_id):
            try:
                yield from model_plans(pricer, provider, model)
            except (ValueError, ArithmeticError) as exc:  # one odd catalog entry must not stop the load
                logger.debug("skipping %s/%s in the price catalog: %s", provider.id, model.id, exc)


def models_priced_by(provider: types.Provider, providers: dict[str, types.Provider]) -> list[types.ModelInfo]:
    """A provider's own models, then those it prices from its fallback providers (Azure prices
    OpenAI's models, Google Vertex Anthropic's): calls to those are priced under its id."""
    models = list(provider.models)
    seen = {m.id for m in models}
    for fallback_id in provider.fallback_model_providers or ():
        fallback = providers.get(fallback_id)
        for model in fallback.models if fallback is not None else ():
            if model.id not in seen:
                seen.add(model.id)
                models.append(model)
    return models


def model_plans(pricer: Pricer, provider: types.Provider, model: types.ModelInfo) -> Iterator[RatePlan]:
    overrides = pricer.overrides
    instants = times_of_day(model)
    for day in segment_dates(model, overrides, provider.id):
        for hour, minute in instants:
            when = datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)
            for context in contexts(model):
                resolved = resolve_price(provider, model, when, context, overrides)
                if context and not resolved.variant:
                    continue  # the variant does not change this day's price: the standard row covers it
                yield plan_for(provider.id, model, resolved, pricer.price_version)


class CatalogLoader:
    """Loads a pricer's catalog into a store a slice at a time, one slice after each batch written.

    A processor's first batches are not held up behind the whole load (~0.2 s of Python plus the
    insert): each slice costs a few milliseconds on the worker thread, after the batch's calls are
    committed. Calls never wait for it: the rate plans that price a batch are written with it.
    """

    def __init__(self, pricer: Pricer, *, slice_rows: int = _SLICE_ROWS) -> None:
        self._pricer = pricer
        self._slice_rows = slice_rows
        self._plans: Iterator[RatePlan] | None = None
        self._seen: set[str] = set()
        self._built: list[RatePlan] = []
        self.done = False

    def step(self, con: duckdb.DuckDBPyConnection) -> None:
        """Load the next slice; the first call only checks whether the version is there already."""
        if self.done:
            return
        pricer = self._pricer
        if self._plans is None:
            cached = _built.get((id(pricer.snapshot), pricer.price_version))
            self._plans = iter(cached) if cached is not None else _iter_plans(pricer)
            if _mark_used(con, pricer.price_version):
                self.done = True
                return
        batch: list[RatePlan] = []
        for plan in self._plans:
            if plan.price_id not in self._seen:
                self._seen.add(plan.price_id)
                batch.append(plan)
                if len(batch) == self._slice_rows:
                    break
        self._built += batch
        finished = len(batch) < self._slice_rows
        _insert_plans(con, batch, pricer if finished else None, len(self._built), pricer.catalog_version or "bundled")
        if finished:
            _built.setdefault((id(pricer.snapshot), pricer.price_version), self._built)
            self.done = True


def _mark_used(con: duckdb.DuckDBPyConnection, version: str) -> bool:
    """Note that a process prices with ``version``; False when it was never loaded."""
    row = con.execute(
        "UPDATE model_price_catalogs SET last_used_at = current_timestamp WHERE price_version = ?", [version]
    ).fetchone()
    return bool(row and row[0])


def _insert_plans(
    con: duckdb.DuckDBPyConnection, plans: Sequence[RatePlan], finished: Pricer | None, rows: int, catalog_source: str
) -> int:
    """One transaction: insert-or-ignore the rows and, for the last slice, the version's row."""
    con.execute("BEGIN TRANSACTION")
    try:
        added = 0
        if plans:
            con.register("_catalog_rows", plans_to_arrow(plans))
            try:
                row = con.execute("INSERT OR IGNORE INTO model_prices BY NAME SELECT * FROM _catalog_rows").fetchone()
            finally:
                con.unregister("_catalog_rows")
            added = int(row[0]) if row else 0
        if finished is not None:
            overrides_file = finished.overrides.path if finished.overrides is not None else None
            con.execute(
                "INSERT OR IGNORE INTO model_price_catalogs VALUES (?, ?, ?, ?, current_timestamp, current_timestamp)",
                [finished.price_version, catalog_source, overrides_file, rows],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return added


def load_catalog(con: duckdb.DuckDBPyConnection, pricer: Pricer, *, catalog_source: str | None = None) -> int:
    """Bulk-load the pricer's catalog version into ``model_prices`` unless it is there already.

    One Arrow batch and one ``INSERT OR IGNORE ... SELECT``, in one transaction with its
    ``model_price_catalogs`` row. Returns the rows added (0 when the version was loaded before).
    """
    if _mark_used(con, pricer.price_version):
        return 0
    plans = catalog_plans(pricer)
    source = catalog_source or pricer.catalog_version or "bundled"
    added = _insert_plans(con, plans, pricer, len(plans), source)
    logger.debug("loaded %d price rows of %s", added, pricer.price_version)
    return added


def plans_to_arrow(plans: Sequence[RatePlan]) -> pa.RecordBatch:
    """The ``model_prices`` rows of some rate plans, as one Arrow batch."""
    # A plan built elsewhere (tests, older code) may carry only its rates as text: use their base rate.
    prices = [dict(p.prices) or {k: Decimal(v.split(" ", 1)[0]) for k, v in p.rates.items()} for p in plans]
    columns: dict[str, pa.Array] = {
        "price_id": pa.array([p.price_id for p in plans], pa.string()),
        "provider_id": pa.array([p.provider_id for p in plans], pa.string()),
        "model_id": pa.array([p.model_id for p in plans], pa.string()),
        "model_name": pa.array([p.model_name for p in plans], pa.string()),
        "variant": pa.array([p.variant for p in plans], pa.string()),
        "time_of_day": pa.array([p.time_of_day for p in plans], pa.string()),
        "effective_from": pa.array([p.effective_from for p in plans], pa.date32()),
        "effective_to": pa.array([p.effective_to for p in plans], pa.date32()),
    }
    for name in RATE_COLUMNS:
        columns[name] = pa.array([_base_rate(plan, price.get(name)) for plan, price in zip(plans, prices)], MONEY)  # noqa: B905
    columns["tiers"] = pa.array([_tiers_json(price) for price in prices], pa.string())
    columns["rates"] = pa.array([json.dumps(p.rates, sort_keys=True) for p in plans], pa.string())
    columns["price_version"] = pa.array([p.price_version for p in plans], pa.string())
    columns["source"] = pa.array([p.source for p in plans], pa.string())
    return pa.RecordBatch.from_pydict(columns)


def _base_rate(plan: RatePlan, value: Decimal | types.TieredPrices | None) -> Decimal | None:
    if value is None:
        return None
    base = value.base if isinstance(value, types.TieredPrices) else value
    if not base.is_finite() or abs(base) >= Decimal(10) ** 20:
        logger.warning("rate %s of %s does not fit DECIMAL(38, 18); storing NULL", base, plan.model_id)
        return None
    return base.quantize(_QUANTUM)


def _tiers_json(prices: dict[str, Decimal | types.TieredPrices]) -> str | None:
    tiers = {
        key: [{"start": t.start, "price": str(t.price)} for t in value.tiers]
        for key, value in prices.items()
        if isinstance(value, types.TieredPrices)
    }
    return json.dumps(tiers, sort_keys=True) if tiers else None
