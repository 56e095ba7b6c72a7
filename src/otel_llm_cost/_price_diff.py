"""Compare two price catalogs (with or without overrides): what a new genai-prices data file or a
prices overrides file would change, as of one day. Also reads a genai-prices data JSON file.

Rows are compared by (provider, model, variant, off-peak window), each taking the rate plan in
force on the day: a rate is *added*, *removed* or *changed* (old -> new).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from genai_prices import data_snapshot

from otel_llm_cost._rate_plan import RatePlan
from otel_llm_cost.catalog import catalog_plans
from otel_llm_cost.pricing import Pricer

_RowKey = tuple[str, str, str, str | None]
_NUMBER = re.compile(r"(?<![>\w])\d+(\.\d+)?(?![\w:])")


class CatalogFileError(ValueError):
    """A genai-prices data file that cannot be used; the message says why."""


def load_catalog_file(path: str | Path) -> tuple[data_snapshot.DataSnapshot, str]:
    """A genai-prices data JSON file (the published ``data.json``) as a snapshot and its version label.

    It is validated by genai-prices' own types. The label is ``genai-prices-data@<sha256 12>``.
    """
    try:
        raw = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the catalog file: {exc.strerror or exc}") from exc
    return parse_catalog(raw, str(path))


def parse_catalog(raw: bytes, name: str) -> tuple[data_snapshot.DataSnapshot, str]:
    from genai_prices.types import _providers_from_raw  # the loader genai-prices' own updater uses

    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise CatalogFileError(f"{name}: not JSON: {exc}") from exc
    if not isinstance(payload, list) or not payload:
        raise CatalogFileError(f"{name}: a genai-prices catalog is a JSON list of providers")
    try:
        providers = _providers_from_raw(payload)
    except Exception as exc:  # pydantic's ValidationError, and whatever odd data raises
        first = str(exc).splitlines()
        raise CatalogFileError(f"{name}: not a valid genai-prices catalog: {' '.join(first[:3])[:300]}") from exc
    snapshot = data_snapshot.DataSnapshot(providers=providers, from_auto_update=True)
    return snapshot, f"genai-prices-data@{hashlib.sha256(raw).hexdigest()[:12]}"


@dataclass(frozen=True)
class RateChange:
    provider_id: str
    model_id: str
    variant: str
    time_of_day: str | None
    price_key: str
    old: str | None  # None: the rate is new
    new: str | None  # None: the rate is gone

    @property
    def kind(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "changed"

    @property
    def factor(self) -> Decimal | None:
        """new / old for a changed base rate; None when either is missing or zero."""
        if self.old is None or self.new is None:
            return None
        old, new = Decimal(self.old.split(" ", 1)[0]), Decimal(self.new.split(" ", 1)[0])
        return new / old if old else None


def plans_in_force(pricer: Pricer, day: date) -> dict[_RowKey, RatePlan]:
    """The catalog's rate plan per (provider, model, variant, off-peak window) on ``day``."""
    found: dict[_RowKey, RatePlan] = {}
    for plan in catalog_plans(pricer):
        if (plan.effective_from is None or plan.effective_from <= day) and (
            plan.effective_to is None or day < plan.effective_to
        ):
            found.setdefault((plan.provider_id, plan.model_id, plan.variant, plan.time_of_day), plan)
    return found


def diff(old: Pricer, new: Pricer, day: date) -> list[RateChange]:
    """Every rate that differs between two catalogs on ``day``, sorted by provider and model."""
    before, after = plans_in_force(old, day), plans_in_force(new, day)
    changes: list[RateChange] = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1], k[2], k[3] or "")):
        old_rates = before[key].rates if key in before else {}
        new_rates = after[key].rates if key in after else {}
        for price_key in sorted(old_rates.keys() | new_rates.keys()):
            old_rate, new_rate = old_rates.get(price_key), new_rates.get(price_key)
            if _normal(old_rate) != _normal(new_rate):
                changes.append(RateChange(*key, price_key, old_rate, new_rate))
    return changes


def _normal(rate: str | None) -> str | None:
    """A rate's text with each number in its shortest form: "2.50" and "2.5" are the same rate."""
    if rate is None:
        return None
    return _NUMBER.sub(lambda m: format(Decimal(m.group()).normalize(), "f"), rate)


def large_changes(changes: list[RateChange], *, factor: Decimal) -> list[RateChange]:
    """Changed rates that moved by more than ``factor`` either way, or dropped to zero."""
    large = []
    for change in changes:
        ratio = change.factor
        if change.kind == "changed" and (ratio is None or ratio == 0 or ratio > factor or ratio < 1 / factor):
            large.append(change)
    return large
