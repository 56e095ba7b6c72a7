"""What the stored usage would have cost on another model: ``otel-llm-cost whatif``.

Each selected call is priced again as if it had been sent to the target model: the same token
counts (cache reads and writes, 1-hour writes, reasoning) through the same
:class:`~otel_llm_cost.pricing.Pricer`, at the call's own start time, so long-context tiers and
cache prices are exact, and the comparison with what the call cost is like for like. A cost the
span reported itself belongs to the model it used and is ignored for the target.

When the target has no cache price, genai-prices charges cache reads and writes as ordinary input
tokens, and so does this (``WhatIf.missing_cache_prices`` says which are missing).

Duplicates and calls that report no usage are left out. The SQL form, ``llm_what_if(model)``, uses
the target's current base rates in ``model_prices`` and ignores tiers; this module is exact.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Final

import duckdb

from otel_llm_cost import currency as currencies
from otel_llm_cost._selection import STORED_CALL_COLUMNS, CallFilter, record_from_row
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import PRICED, Pricer

_CHUNK_ROWS: Final = 50_000
_EXTRA_COLUMNS: Final = (
    "cost_usd",
    "coalesce(priced_provider, provider)",
    "coalesce(priced_model, response_model, request_model)",
    "CAST(timezone('UTC', start_time) AS DATE)",
)
_CACHE_PRICES: Final = {"cache_read_mtok": "cache read", "cache_write_mtok": "cache write"}


class WhatIfError(ValueError):
    """The target model cannot be priced (not in the catalog, or no model given)."""


@dataclass
class ModelComparison:
    """One current model's calls: what they cost, and what they would cost on the target."""

    provider: str | None
    model: str | None
    calls: int = 0
    input_tokens: int = 0  #: all input, cache reads and writes included
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    actual_cost: Decimal | None = None  #: the stored cost_usd, summed; None when no call is priced
    unpriced_calls: int = 0  #: calls without a stored cost
    target_cost: Decimal | None = None  #: None when a call cannot be priced on the target
    target_unpriced_calls: int = 0
    # USD amounts per UTC day, [actual, target], for converting at each day's rate.
    by_day: dict[date, list[Decimal]] = field(default_factory=lambda: defaultdict(lambda: [Decimal(0), Decimal(0)]))

    @property
    def difference(self) -> Decimal | None:
        """Target minus actual; None unless every call is priced both ways (no half comparisons)."""
        if self.unpriced_calls or self.target_unpriced_calls or self.actual_cost is None or self.target_cost is None:
            return None
        return self.target_cost - self.actual_cost


@dataclass
class WhatIf:
    """The comparison, one row per current model, amounts in ``currency``."""

    target_provider: str
    target_model: str
    currency: str
    rows: list[ModelComparison]
    total: ModelComparison
    missing_cache_prices: list[str]  #: "cache read" / "cache write" when the target has no such price


def what_if(
    con: duckdb.DuckDBPyConnection,
    pricer: Pricer,
    target_model: str,
    *,
    target_provider: str | None = None,
    selection: CallFilter | None = None,
    currency: str = currencies.USD,
) -> WhatIf:
    """Price the selected stored calls on ``target_model`` and compare per current model.

    Args:
        con: a connection to a migrated database (read-only is fine).
        pricer: prices the calls on the target; pass the one carrying your overrides.
        target_model: the model to price on, as genai-prices names it (``gpt-5-mini``).
        target_provider: the provider selling it, when several do.
        selection: which stored calls (``model`` selects the current model); all by default.
        currency: show amounts in this currency, converted at each call's UTC day's rate.

    Raises:
        WhatIfError: the target model has no price.
        currency.UnknownCurrency: no rate of ``currency`` is loaded.
    """
    selection = selection or CallFilter()
    resolved_provider, resolved_model, rates = _resolve_target(pricer, target_model, target_provider)
    code = currency.strip().upper()
    if code != currencies.USD:
        currencies.rates_for(con, code)  # fail before the work when the currency is unknown
    where, params = selection.where()
    batches = con.execute(
        f"SELECT {', '.join((*STORED_CALL_COLUMNS, *_EXTRA_COLUMNS))} FROM llm_calls WHERE {where}"
        " AND NOT is_duplicate AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)",
        params,
    ).to_arrow_reader(_CHUNK_ROWS)
    groups: dict[tuple[str | None, str | None], ModelComparison] = {}
    extra = len(STORED_CALL_COLUMNS)
    for batch in batches:
        # Column by column from Arrow: much cheaper than DuckDB's Python tuples.
        for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            actual, provider, model, day = row[extra:]
            record = _on_target(record_from_row(row), resolved_provider, resolved_model)
            target = pricer.price(record).cost_usd
            group = groups.get((provider, model))
            if group is None:
                group = groups[(provider, model)] = ModelComparison(provider, model)
            _add(group, record, actual, target, day)
    ordered = sorted(groups.values(), key=lambda g: (-(g.actual_cost or 0), g.provider or "", g.model or ""))
    total = ModelComparison(None, None)
    for group in ordered:
        _add_group(total, group)
    if code != currencies.USD:
        for group in (*ordered, total):
            _convert(con, group, code)
    missing = [name for key, name in _CACHE_PRICES.items() if key not in rates]
    return WhatIf(resolved_provider, resolved_model, code, ordered, total, missing)


def _resolve_target(pricer: Pricer, model: str, provider: str | None) -> tuple[str, str, dict[str, str]]:
    """The catalog's provider and model id for the target, and its rates, or a clear error."""
    if not model.strip():
        raise WhatIfError("name the model to compare with, e.g. --model gpt-5-mini")
    now_ns = time.time_ns()
    probe = CallRecord(
        trace_id="0" * 32, span_id="0" * 16, parent_span_id=None, start_time_ns=now_ns, end_time_ns=now_ns,
        span_name="what-if", service_name=None, environment=None, provider=provider, operation="chat",
        request_model=model, response_model=None, response_id=None, input_tokens=1, output_tokens=0,
        cache_read_tokens=None, cache_write_tokens=None, reasoning_tokens=None, user_id=None, conversation_id=None,
        agent_name=None, status_code="UNSET", error_type=None, reported_cost_usd=None,
    )  # fmt: skip
    cost = pricer.price(probe)
    if cost.pricing_status != PRICED or cost.priced_provider is None or cost.priced_model is None:
        where = f" from provider {provider!r}" if provider else ""
        raise WhatIfError(f"no price for model {model!r}{where}: {cost.pricing_detail or cost.pricing_status}")
    plans = pricer.take_new_plans()
    pricer.requeue_plans(plans)  # not ours to consume: whoever stores plans still gets them
    rates = next((p.rates for p in plans if p.price_id == cost.price_id), {})
    return cost.priced_provider, cost.priced_model, rates


def _on_target(record: CallRecord, provider: str, model: str) -> CallRecord:
    # The span's reported cost was for the model it used; the target's cost is ours alone.
    return dataclasses.replace(
        record, provider=provider, request_model=model, response_model=None, reported_cost_usd=None,
        reported_cost_error=None,
    )  # fmt: skip


def _add(group: ModelComparison, record: CallRecord, actual: Decimal | None, target: Decimal | None, day: date) -> None:
    group.calls += 1
    group.input_tokens += record.input_tokens or 0
    group.cache_read_tokens += record.cache_read_tokens or 0
    group.cache_write_tokens += record.cache_write_tokens or 0
    group.output_tokens += record.output_tokens or 0
    amounts = group.by_day[day]
    if actual is None:
        group.unpriced_calls += 1
    else:
        group.actual_cost = (group.actual_cost or Decimal(0)) + actual
        amounts[0] += actual
    if target is None:
        group.target_unpriced_calls += 1
    else:
        group.target_cost = (group.target_cost or Decimal(0)) + target
        amounts[1] += target


def _add_group(total: ModelComparison, group: ModelComparison) -> None:
    total.calls += group.calls
    total.input_tokens += group.input_tokens
    total.cache_read_tokens += group.cache_read_tokens
    total.cache_write_tokens += group.cache_write_tokens
    total.output_tokens += group.output_tokens
    total.unpriced_calls += group.unpriced_calls
    total.target_unpriced_calls += group.target_unpriced_calls
    if group.actual_cost is not None:
        total.actual_cost = (total.actual_cost or Decimal(0)) + group.actual_cost
    if group.target_cost is not None:
        total.target_cost = (total.target_cost or Decimal(0)) + group.target_cost
    for day, (actual, target) in group.by_day.items():
        total.by_day[day][0] += actual
        total.by_day[day][1] += target


def _convert(con: duckdb.DuckDBPyConnection, group: ModelComparison, code: str) -> None:
    """Replace the USD sums by the sum of each day converted at its rate; None if a day has none."""
    for index, name in ((0, "actual_cost"), (1, "target_cost")):
        if getattr(group, name) is None:
            continue
        converted = currencies.convert_usd(con, {day: sums[index] for day, sums in group.by_day.items()}, code)
        values = [v for v in converted.values() if v is not None]
        setattr(group, name, sum(values, Decimal(0)) if len(values) == len(converted) else None)
