"""Which stored calls a command works on, and how a stored row becomes a :class:`CallRecord` again.

``reprice`` and ``whatif`` select ``llm_calls`` rows the same way (a time range, a model, a
provider) and price them again with a :class:`~otel_llm_cost.pricing.Pricer`, so both read the
same columns and rebuild records here. Every field pricing reads is stored: the token counts
(``cache_write_1h_tokens`` included), the span's provider and models, its start time, the cost
the span reported and why one was refused. An ``invalid_usage`` row has no counts; its stored
reason is handed back as ``usage_error``, so it stays ``invalid_usage``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from otel_llm_cost.conventions import CallRecord
from otel_llm_cost.pricing import INVALID_USAGE

_RELATIVE = re.compile(r"^(\d+)([dh])$")

# Read in this order; record_from_row relies on it.
STORED_CALL_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "epoch_ns(start_time)", "epoch_ns(end_time)", "span_name",
    "service_name", "environment", "provider", "operation", "request_model", "response_model", "response_id",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "user_id",
    "conversation_id", "agent_name", "status_code", "error_type", "reported_cost_usd", "pricing_status",
    "pricing_detail", "input_excluded_cache", "cache_write_1h_tokens", "customer_id", "scope_name",
    "reported_cost_error", "test_id", "input_audio_tokens", "cache_audio_read_tokens", "output_audio_tokens",
    "input_image_tokens", "cache_image_read_tokens", "output_image_tokens", "service_tier",
)  # fmt: skip


class SelectionError(ValueError):
    """A filter value the user gave cannot be understood; the message says which and why."""


@dataclass(frozen=True)
class CallFilter:
    """Which ``llm_calls`` rows to take. Every condition given must hold; none given means all rows.

    Attributes:
        since: calls that started at or after this instant.
        until: calls that started before this instant.
        model: calls whose response, request or priced model is this (case-insensitive).
        provider: calls whose reported or priced provider is this (case-insensitive).
        unpriced: only calls without a cost (``cost_usd`` NULL).
    """

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    provider: str | None = None
    unpriced: bool = False

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """The SQL condition (``"true"`` when there is none) and its parameters."""
        p = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            clauses.append(f"{p}start_time >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{p}start_time < ?")
            params.append(self.until)
        if self.model is not None:
            clauses.append(f"lower(?) IN (lower({p}response_model), lower({p}request_model), lower({p}priced_model))")
            params.append(self.model)
        if self.provider is not None:
            clauses.append(f"lower(?) IN (lower({p}provider), lower({p}priced_provider))")
            params.append(self.provider)
        if self.unpriced:
            clauses.append(f"{p}cost_usd IS NULL")
        return (" AND ".join(clauses) or "true"), params

    def describe(self) -> str:
        """The filters as command-line options, for messages and the audit table."""
        parts = []
        if self.since is not None:
            parts.append(f"--since {self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"--until {self.until.isoformat()}")
        if self.model is not None:
            parts.append(f"--model {self.model}")
        if self.provider is not None:
            parts.append(f"--provider {self.provider}")
        if self.unpriced:
            parts.append("--unpriced")
        return " ".join(parts)


def parse_when(text: str, *, end: bool = False, now: datetime | None = None) -> datetime:
    """An instant from ``2025-03-01``, ``2025-03-01T12:00``, ``7d`` (7 days ago) or ``12h`` (12 hours ago).

    A bare date means the start of that UTC day; with ``end=True`` (for ``--until``), the end of
    it, so ``--until 2025-03-31`` includes the 31st. Times without a zone are UTC.

    Raises:
        SelectionError: the text is none of these.
    """
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return (now or datetime.now(timezone.utc)) - (
            timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
        )
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SelectionError(
            f"{text!r} is not a date (2025-03-01), a time (2025-03-01T12:00) or an age (7d, 12h)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def record_from_row(row: Sequence[Any]) -> CallRecord:
    """Rebuild the record a stored row was priced from: a row that starts with :data:`STORED_CALL_COLUMNS`."""
    (trace_id, span_id, parent_span_id, start_ns, end_ns, span_name, service_name, environment, provider, operation,
     request_model, response_model, response_id, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
     reasoning_tokens, user_id, conversation_id, agent_name, status_code, error_type, reported_cost_usd,
     pricing_status, pricing_detail, input_excluded_cache, cache_write_1h_tokens, customer_id, scope_name,
     reported_cost_error, test_id, input_audio_tokens, cache_audio_read_tokens, output_audio_tokens,
     input_image_tokens, cache_image_read_tokens, output_image_tokens,
     service_tier) = row[: len(STORED_CALL_COLUMNS)]  # fmt: skip
    reported: Decimal | None = reported_cost_usd
    return CallRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        start_time_ns=start_ns,
        end_time_ns=end_ns,
        span_name=span_name,
        service_name=service_name,
        environment=environment,
        provider=provider,
        operation=operation,
        request_model=request_model,
        response_model=response_model,
        response_id=response_id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
        reasoning_tokens=reasoning_tokens,
        user_id=user_id,
        conversation_id=conversation_id,
        agent_name=agent_name,
        status_code=status_code or "UNSET",
        error_type=error_type,
        reported_cost_usd=reported,
        usage_error=pricing_detail if pricing_status == INVALID_USAGE else None,
        input_excluded_cache=bool(input_excluded_cache),
        cache_write_1h_tokens=cache_write_1h_tokens,
        customer_id=customer_id,
        scope_name=scope_name,
        reported_cost_error=reported_cost_error,
        input_audio_tokens=input_audio_tokens,
        cache_audio_read_tokens=cache_audio_read_tokens,
        output_audio_tokens=output_audio_tokens,
        input_image_tokens=input_image_tokens,
        cache_image_read_tokens=cache_image_read_tokens,
        output_image_tokens=output_image_tokens,
        service_tier=service_tier,
        test_id=test_id,
    )
