"""The report's data: frozen dataclasses the queries in :mod:`otel_llm_cost.report` fill, column by column.

Every renderer (tables, JSON, CSV, markdown, HTML) reads these and nothing else. Money is ``Decimal``;
a cost of ``None`` means no call of the group could be priced, never $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from otel_llm_cost._report_period import Period


@dataclass(frozen=True)
class Converted:
    """A USD cost shown in the report's display currency (``report --currency``), converted per UTC day.

    Each day's USD sum is converted at that day's rate, or the latest earlier one; the days before
    the currency's first rate cannot be converted and are counted here instead, never guessed.
    """

    cost: Decimal | None  #: the convertible part in the display currency; None when nothing converts
    unconverted_calls: int  #: priced calls on days before the currency's first rate
    unconverted_cost_usd: Decimal | None  #: their USD cost, left out of ``cost``


@dataclass(frozen=True)
class Totals:
    """Every call of the period, duplicates excluded (and counted apart)."""

    calls: int
    priced_calls: int
    unpriced_calls: int
    failed_calls: int  #: span status ERROR
    duplicate_calls: int  #: rows flagged is_duplicate, left out of every other number
    input_tokens: int  #: all input, cache reads and writes included
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int  #: reasoning included
    reasoning_tokens: int
    cost_usd: Decimal | None  #: sum over priced calls; None when no call is priced
    first_call_at: datetime | None
    last_call_at: datetime | None
    price_versions: list[str]  #: catalog versions the costs were computed with
    converted: Converted | None = None  #: cost_usd in the display currency; None in a USD report


@dataclass(frozen=True)
class DailyCost:
    """One row of ``llm_daily_cost``: a UTC day, provider and model."""

    day: date
    provider: str | None
    model: str | None
    calls: int
    unpriced_calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    converted: Converted | None = None  #: cost_usd in the display currency; None in a USD report


@dataclass(frozen=True)
class DayCost:
    """One UTC day of the daily window: totals, and the cost of each provider that had calls."""

    day: date
    calls: int
    unpriced_calls: int
    cost_usd: Decimal | None
    cost_by_provider: dict[str, Decimal | None]
    converted: Converted | None = None  #: cost_usd in the display currency; None in a USD report
    converted_by_provider: dict[str, Converted] | None = None  #: cost_by_provider so; None in a USD report


@dataclass(frozen=True)
class ModelCost:
    """One provider and model over the daily window (``llm_daily_cost`` summed over days)."""

    provider: str | None
    model: str | None
    calls: int
    unpriced_calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    converted: Converted | None = None  #: cost_usd in the display currency; None in a USD report


@dataclass(frozen=True)
class GroupCost:
    """Calls, tokens and cost of one service (with its environment) or one user."""

    name: str | None
    environment: str | None
    calls: int
    unpriced_calls: int
    conversations: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    converted: Converted | None = None  #: cost_usd in the display currency; None in a USD report


@dataclass(frozen=True)
class ConversationCost:
    """One row of ``llm_cost_by_conversation``."""

    conversation_id: str
    user_id: str | None
    calls: int
    unpriced_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    models: list[str]
    first_call_at: datetime
    last_call_at: datetime
    converted: Converted | None = None  #: cost_usd in the display currency; None in a USD report


@dataclass(frozen=True)
class UnpricedGroup:
    """Unpriced calls (``llm_unpriced_calls``) of one provider, model and pricing status."""

    provider: str | None
    model: str | None
    pricing_status: str
    calls: int
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    detail: str | None  #: one of the reasons given, e.g. which catalog lookup failed


@dataclass(frozen=True)
class MonthToDate:
    """This UTC month's spend so far and its linear projection (view ``llm_month_to_date``)."""

    month: date
    calls: int
    unpriced_calls: int
    cost_usd: Decimal | None  #: 0 when the month has no call yet; None when none is priced
    projected_cost_usd: Decimal | None
    previous_month_cost_usd: Decimal | None
    days_elapsed: float
    days_in_month: int
    # In the display currency (report --currency), each day at its own rate; None in a USD report.
    converted: Converted | None = None
    converted_projected: Decimal | None = None
    converted_previous_month: Converted | None = None


@dataclass(frozen=True)
class Report:
    """Everything ``otel-llm-cost report`` shows without ``--by``."""

    db_path: str
    period: Period  #: what totals, services, users, conversations and unpriced calls cover
    window: Period  #: what the daily and per-model tables cover: the period, or the last --days days
    totals: Totals
    daily: list[DailyCost]
    by_day: list[DayCost]
    by_model: list[ModelCost]
    by_service: list[GroupCost]
    top_users: list[GroupCost]
    top_conversations: list[ConversationCost]
    unpriced: list[UnpricedGroup]
    month_to_date: MonthToDate
    currency: str | None = None  #: the display currency of every ``converted``; None: USD only
