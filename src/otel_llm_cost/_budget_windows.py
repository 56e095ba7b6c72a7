"""The in-memory side of budgets: each budget's current window, and which windows a call counts in.

A :class:`WindowIndex` is built once per seed and never changed afterwards (only the counts in its
windows move), so the application's threads can read one while the ingest worker builds the next.
Lookups are by (scope key, value): ``("user", "u1")``, ``("model", "gpt-4o")``,
``("tag:customer_id", "acme")``; global budgets match every call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal

from otel_llm_cost._alert_channels import AlertChannel
from otel_llm_cost.budgets import TAG_COLUMNS, Budget
from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import Cost

_QUANTUM = Decimal(1).scaleb(-18)  # llm_calls.cost_usd is DECIMAL(38, 18): sum what the table holds
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Window:
    """One budget's current window and what it has counted."""

    __slots__ = ("budget", "channels", "end", "end_ns", "end_s", "fired", "spend", "start", "start_ns", "unpriced")

    def __init__(self, budget: Budget, channels: list[AlertChannel], start: datetime, end: datetime | None) -> None:
        self.budget = budget
        self.channels = channels
        self.start = start
        self.end = end
        self.start_ns = _ns(start)
        self.end_ns = _ns(end) if end is not None else None
        self.end_s = end.timestamp() if end is not None else float("inf")
        self.spend = Decimal(0)
        self.unpriced = 0
        self.fired: set[int] = set()


# What each scope compares, read off a stored row (any of the values equal to the budget's matches).
_ROW_VALUES: dict[str, Callable[[CallRecord, Cost], tuple[str | None, ...]]] = {
    "provider": lambda r, c: (r.provider, c.priced_provider),
    "model": lambda r, c: (r.request_model, r.response_model, c.priced_model),
    "service": lambda r, c: (r.service_name,),
    "environment": lambda r, c: (r.environment,),
    "user": lambda r, c: (r.user_id,),
    "conversation": lambda r, c: (r.conversation_id,),
}


class WindowIndex:
    """Windows by what their budget matches."""

    def __init__(self, windows: Iterable[Window] = ()) -> None:
        self.by_key: dict[tuple[str, str], list[Window]] = {}
        self.everywhere: list[Window] = []  # global budgets
        tags: set[str] = set()
        scopes: set[str] = set()
        for window in windows:
            budget = window.budget
            if budget.scope == "global":
                self.everywhere.append(window)
                continue
            key = f"tag:{budget.tag}" if budget.scope == "tag" else budget.scope
            self.by_key.setdefault((key, budget.value or ""), []).append(window)
            scopes.add(key)
            if budget.tag is not None and budget.tag not in TAG_COLUMNS:
                tags.add(budget.tag)
        # Only the scopes some budget uses are read off each row; captured attributes (JSON) are
        # parsed only when a tag budget names one.
        self._row_values = [(scope, _ROW_VALUES[scope]) for scope in _ROW_VALUES if scope in scopes]
        self._tag_columns = [(f"tag:{c}", c) for c in TAG_COLUMNS if f"tag:{c}" in scopes]
        self.attribute_tags = frozenset(tags)

    def __bool__(self) -> bool:
        return bool(self.by_key or self.everywhere)

    def count(self, rows: Sequence[tuple[CallRecord, Cost]], *, skip: set[str]) -> None:
        """Add each row's cost (or, unpriced, its count) to the windows it falls in, except the
        windows of the budgets in ``skip``. Duplicate spans are not counted."""
        if not self:
            return
        by_key, everywhere, tags = self.by_key, self.everywhere, self.attribute_tags
        for record, cost in rows:
            if record.duplicate_of is not None:
                continue
            matched = list(everywhere)
            for scope, values in self._row_values:
                # A set: provider and priced_provider are often the same name, counted once.
                for value in set(values(record, cost)):
                    if value is not None:
                        matched += by_key.get((scope, value), ())
            for key, column in self._tag_columns:
                value = getattr(record, column)
                if value is not None:
                    matched += by_key.get((key, value), ())
            if tags and record.attributes:
                attributes = json.loads(record.attributes)
                for tag in tags:
                    text = _as_text(attributes.get(tag))
                    if text is not None:
                        matched += by_key.get((f"tag:{tag}", text), ())
            if not matched:
                continue
            start_ns = record.start_time_ns
            amount = cost.cost_usd.quantize(_QUANTUM, ROUND_HALF_EVEN) if cost.cost_usd is not None else None
            for window in matched:
                if start_ns < window.start_ns or (skip and window.budget.name in skip):
                    continue
                if window.end_ns is not None and start_ns >= window.end_ns:
                    continue
                if amount is None:
                    window.unpriced += 1
                else:
                    window.spend += amount


def _ns(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _as_text(value: object) -> str | None:
    """A captured attribute as DuckDB's json_extract_string gives it."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
