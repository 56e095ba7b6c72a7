"""The in-memory side of budgets: each budget's current window, and which windows a call counts in.

A :class:`WindowIndex` is built once per seed and never changed afterwards (only the counts in its
windows move), so the application's threads can read one while the ingest worker builds the next.
Lookups are by (scope key, value): ``("user", "u1")``, ``("model", "gpt-4o")``,
``("tag:customer_id", "acme")``; global budgets match every call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
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


class WindowIndex:
    """Windows by what their budget matches."""

    def __init__(self, windows: Iterable[Window] = ()) -> None:
        self.by_key: dict[tuple[str, str], list[Window]] = {}
        self.everywhere: list[Window] = []  # global budgets
        tags: set[str] = set()
        for window in windows:
            budget = window.budget
            if budget.scope == "global":
                self.everywhere.append(window)
                continue
            key = f"tag:{budget.tag}" if budget.scope == "tag" else budget.scope
            self.by_key.setdefault((key, budget.value or ""), []).append(window)
            if budget.tag is not None and budget.tag not in TAG_COLUMNS:
                tags.add(budget.tag)
        # Tags that are captured attributes: only then is a row's attributes JSON parsed.
        self.attribute_tags = frozenset(tags)

    def count(self, rows: Sequence[tuple[CallRecord, Cost]], *, skip: set[str]) -> None:
        """Add each row's cost (or, unpriced, its count) to the windows it falls in, except the
        windows of the budgets in ``skip``. Duplicate spans are not counted."""
        by_key, everywhere, tags = self.by_key, self.everywhere, self.attribute_tags
        for record, cost in rows:
            if record.duplicate_of is not None:
                continue
            keys = {
                ("provider", record.provider), ("provider", cost.priced_provider),
                ("model", record.request_model), ("model", record.response_model), ("model", cost.priced_model),
                ("service", record.service_name), ("environment", record.environment), ("user", record.user_id),
                ("conversation", record.conversation_id),
            }  # fmt: skip
            for column in TAG_COLUMNS:
                keys.add((f"tag:{column}", getattr(record, column)))
            if tags and record.attributes:
                attributes = json.loads(record.attributes)
                for tag in tags:
                    keys.add((f"tag:{tag}", _as_text(attributes.get(tag))))
            matched = list(everywhere)
            for key in keys:
                if key[1] is not None:
                    matched += by_key.get(key, ())  # type: ignore[arg-type]
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
