"""Budgets: a USD limit on what one scope spends over a calendar period, and what a crossing says.

A :class:`Budget` is a plain value, checked when it is made: a negative limit, an unknown scope, a
threshold over 1000 % or a time zone that does not exist raise :class:`BudgetError` (a
``ValueError``) with one line saying what is wrong. Budgets are declared with ``otel-llm-cost
budget add``, in a TOML file (``otel-llm-cost budget sync FILE`` or
``LLMCostSpanProcessor(budgets_file=...)``) or in code (``LLMCostSpanProcessor(budgets=[...])``).

Which calls a scope counts (the same rule in Python and in the ``budget_status`` view):

- ``global``: every call;
- ``provider``: ``provider`` or ``priced_provider`` equals the value;
- ``model``: ``request_model``, ``response_model`` or ``priced_model`` equals the value;
- ``service``, ``environment``, ``user``, ``conversation``: ``service_name``, ``environment``,
  ``user_id``, ``conversation_id``;
- ``tag``: the column named by ``tag`` when it is one of :data:`TAG_COLUMNS`, else the captured span
  attribute of that name in ``llm_calls.attributes``. Attributes are stored only when listed in
  ``store_attributes``, so a tag budget on any other attribute needs it there.

Duplicate spans (``is_duplicate``) never count; unpriced calls are counted beside the spend.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SCOPES: Final = ("global", "provider", "model", "service", "environment", "user", "conversation", "tag")
PERIODS: Final = ("day", "week", "month", "total")
MAX_THRESHOLD_PCT: Final = 1000
DEFAULT_THRESHOLDS_PCT: Final = (50, 80, 100)

# The llm_calls columns a tag budget can name directly; any other tag is a captured attribute.
TAG_COLUMNS: Final = ("agent_name", "customer_id", "operation", "span_name", "scope_name", "test_id")
# Tag keys go into a JSON path in SQL (the budget_status view): keep them to attribute-name characters.
_TAG_KEY = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")
# The scope -> the CallRecord fields it compares (any of them equal to the value matches).
SCOPE_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "provider": ("provider", "priced_provider"),
    "model": ("request_model", "response_model", "priced_model"),
    "service": ("service_name",),
    "environment": ("environment",),
    "user": ("user_id",),
    "conversation": ("conversation_id",),
}
# The start of the "total" period: every call ever stored is in it.
EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


class BudgetError(ValueError):
    """A budget, or a file of budgets, is malformed; the message says what and where."""


@dataclass(frozen=True)
class Alert:
    """One threshold of one budget crossed in one window: what every channel is told."""

    budget: str
    scope: str
    scope_value: str | None
    tag: str | None
    period: str
    timezone: str
    window_start: datetime  #: UTC; EPOCH for a total budget
    window_end: datetime | None  #: UTC, exclusive; None for a total budget
    threshold_pct: int
    spend_usd: Decimal  #: priced spend in the window, duplicates excluded
    limit_usd: Decimal
    unpriced_calls: int  #: calls in the window without a cost: not in spend_usd
    fired_at: datetime

    @property
    def percent(self) -> Decimal:
        """Spend as a percentage of the limit, to two places."""
        return (self.spend_usd * 100 / self.limit_usd).quantize(Decimal("0.01"))

    @property
    def scope_label(self) -> str:
        """``user=u1``, ``tag customer_id=acme`` or ``global``."""
        if self.scope == "global":
            return "global"
        if self.scope == "tag":
            return f"tag {self.tag}={self.scope_value}"
        return f"{self.scope}={self.scope_value}"

    def summary(self) -> str:
        """One line for people: Slack text, email subject, log body."""
        unpriced = f"; {self.unpriced_calls} unpriced calls not included" if self.unpriced_calls else ""
        return (
            f"Budget {self.budget!r} ({self.scope_label}, {self.period}) crossed {self.threshold_pct}%: "
            f"${format_usd(self.spend_usd)} of ${format_usd(self.limit_usd)} ({self.percent}%){unpriced}"
        )

    def as_json(self) -> dict[str, object]:
        """The generic webhook payload. Money as exact decimal strings, times as ISO 8601 UTC."""
        return {
            "type": "llm_budget_alert",
            "budget": self.budget,
            "scope": self.scope,
            "scope_value": self.scope_value,
            "tag": self.tag,
            "period": self.period,
            "timezone": self.timezone,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "threshold_pct": self.threshold_pct,
            "spend_usd": format_usd(self.spend_usd),
            "limit_usd": format_usd(self.limit_usd),
            "percent": str(self.percent),
            "unpriced_calls": self.unpriced_calls,
            "fired_at": self.fired_at.isoformat(),
            "text": self.summary(),
        }


AlertCallback = Callable[[Alert], object]
Channel = str | AlertCallback


@dataclass(frozen=True)
class Budget:
    """A spend limit in USD for one scope and period, the thresholds that alert, and where to.

    Example::

        Budget("support-bot-daily", limit_usd="25", scope="service", value="support-bot",
               period="day", timezone="Europe/Paris", channels=["slack:https://hooks.slack.com/..."])

    Args:
        name: unique name; the key in ``llm_budgets``.
        limit_usd: the limit, > 0: a ``Decimal``, an ``int`` or a decimal string (a float is read
            through its shortest repr, so ``12.3`` is ``Decimal("12.3")``).
        scope: one of :data:`SCOPES`.
        value: what the scope must equal (a user id, a model, ...); none for ``global``.
        tag: for scope ``tag``: a column of :data:`TAG_COLUMNS` or a captured attribute name.
        period: ``day``, ``week`` (Monday to Sunday), ``month`` or ``total``.
        timezone: an IANA zone name; where the period's days begin.
        thresholds_pct: percentages of the limit that alert, each 1 to 1000 (default 50, 80, 100).
        channels: channel specs (``webhook:URL``, ``slack:URL``, ``email:ADDRESS[,ADDRESS]``,
            ``otel_log``, ``span_event``) or callables that receive the :class:`Alert`.

    Raises:
        BudgetError: a field is malformed.
    """

    name: str
    limit_usd: Decimal
    scope: str = "global"
    value: str | None = None
    tag: str | None = None
    period: str = "month"
    timezone: str = "UTC"
    thresholds_pct: tuple[int, ...] = DEFAULT_THRESHOLDS_PCT
    channels: tuple[Channel, ...] = field(default=(), repr=False)  # webhook URLs hold secrets: never in a repr
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or not self.name.isprintable():
            raise BudgetError(f"a budget needs a printable name, got {self.name!r}")
        name = self.name
        object.__setattr__(self, "limit_usd", parse_limit(self.limit_usd, name))
        if self.scope not in SCOPES:
            raise BudgetError(f"budget {name!r}: unknown scope {self.scope!r}; use one of {', '.join(SCOPES)}")
        if self.scope == "global":
            if self.value is not None or self.tag is not None:
                raise BudgetError(f"budget {name!r}: a global budget takes no value or tag")
        elif not isinstance(self.value, str) or not self.value:
            raise BudgetError(f"budget {name!r}: scope {self.scope} needs a value (which {self.scope} it limits)")
        if self.scope == "tag":
            if not isinstance(self.tag, str) or not _TAG_KEY.fullmatch(self.tag):
                raise BudgetError(
                    f"budget {name!r}: scope tag needs a tag name (letters, digits and _ . : / -), got {self.tag!r}"
                )
        elif self.tag is not None:
            raise BudgetError(f"budget {name!r}: only scope tag takes a tag name")
        if self.period not in PERIODS:
            raise BudgetError(f"budget {name!r}: unknown period {self.period!r}; use one of {', '.join(PERIODS)}")
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise BudgetError(f"budget {name!r}: unknown time zone {self.timezone!r}") from None
        object.__setattr__(self, "zone", zone)
        object.__setattr__(self, "thresholds_pct", parse_thresholds(self.thresholds_pct, name))
        channels = tuple(self.channels)
        for channel in channels:
            if not callable(channel):
                check_channel_spec(channel, name)
        object.__setattr__(self, "channels", channels)

    def window(self, at: datetime) -> tuple[datetime, datetime | None]:
        """The period holding instant ``at``: (start, end) in UTC, end exclusive; (EPOCH, None) for total."""
        if self.period == "total":
            return EPOCH, None
        day = at.astimezone(self.zone).date()
        if self.period == "day":
            first, after = day, day + timedelta(days=1)
        elif self.period == "week":
            first = day - timedelta(days=day.weekday())
            after = first + timedelta(days=7)
        else:
            first = day.replace(day=1)
            after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        # Local midnights, so a day in a zone with daylight saving is 23 or 25 hours long.
        return _midnight(first, self.zone), _midnight(after, self.zone)

    @property
    def stored_channels(self) -> list[str]:
        """The channels as ``llm_budgets.channels`` keeps them: a callable by its qualified name."""
        return [c if isinstance(c, str) else f"callback:{callable_name(c)}" for c in self.channels]


class BudgetDecision(NamedTuple):
    """What :meth:`LLMCostSpanProcessor.check_budget` answers. ``allowed`` is False when a matching
    budget's spend in its current window has reached its limit; the processor never blocks a call itself.

    A NamedTuple rather than a frozen dataclass: it is built on the application's thread before
    each checked call, and a tuple is built several times faster."""

    allowed: bool
    exceeded: tuple[str, ...] = ()  #: names of the matching budgets at or over their limit
    remaining_usd: Decimal | None = None  #: the least headroom among matching budgets; None if none match


@dataclass(frozen=True)
class BudgetStatus:
    """One budget's current window, as the processor holds it in memory."""

    budget: str
    scope: str
    scope_value: str | None
    tag: str | None
    period: str
    window_start: datetime
    window_end: datetime | None
    spend_usd: Decimal
    limit_usd: Decimal
    percent: Decimal
    projected_usd: Decimal | None  #: spend extrapolated linearly to the window's end; None for total
    unpriced_calls: int
    fired_thresholds_pct: tuple[int, ...]


def parse_limit(value: object, name: str) -> Decimal:
    """A positive, finite USD amount from a Decimal, int, float or decimal string."""
    try:
        if isinstance(value, bool):
            raise TypeError
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise BudgetError(f"budget {name!r}: limit must be an amount of USD, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise BudgetError(f"budget {name!r}: limit must be a positive amount of USD, got {value}")
    if amount >= Decimal(10) ** 20:
        raise BudgetError(f"budget {name!r}: limit {value} is too large")
    return amount


def parse_thresholds(values: object, name: str) -> tuple[int, ...]:
    """Whole percentages, 1 to 1000, sorted and without repeats."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise BudgetError(f"budget {name!r}: thresholds must be a list of percentages, got {values!r}")
    result: set[int] = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BudgetError(f"budget {name!r}: threshold {value!r} is not a whole percentage")
        if value < 1 or value > MAX_THRESHOLD_PCT:
            raise BudgetError(f"budget {name!r}: threshold {value} % is outside 1 to {MAX_THRESHOLD_PCT} %")
        result.add(value)
    if not result:
        raise BudgetError(f"budget {name!r}: give at least one threshold")
    return tuple(sorted(result))


CHANNEL_KINDS: Final = ("webhook", "slack", "email", "otel_log", "span_event")


def check_channel_spec(spec: object, name: str) -> None:
    """Raise :class:`BudgetError` unless ``spec`` is a channel spec string (see :class:`Budget`)."""
    if not isinstance(spec, str):
        raise BudgetError(f"budget {name!r}: a channel is a spec string or a callable, got {spec!r}")
    kind, _, target = spec.partition(":")
    if kind in ("otel_log", "span_event"):
        if target:
            raise BudgetError(f"budget {name!r}: channel {kind} takes no target")
        return
    if kind in ("webhook", "slack"):
        if not re.match(r"https?://[^/\s]+", target):
            raise BudgetError(f"budget {name!r}: channel {kind} needs an http(s) URL, e.g. {kind}:https://...")
        return
    if kind == "email":
        addresses = [a.strip() for a in target.split(",")]
        if not all(re.fullmatch(r"[^@\s,]+@[^@\s,]+", a) for a in addresses):
            raise BudgetError(f"budget {name!r}: channel email needs addresses, e.g. email:ops@example.com")
        return
    if kind == "callback":
        raise BudgetError(f"budget {name!r}: a callback channel can only be given in code, as a function")
    raise BudgetError(f"budget {name!r}: unknown channel {kind!r}; use one of {', '.join(CHANNEL_KINDS)}")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def callable_name(function: object) -> str:
    module = getattr(function, "__module__", None) or ""
    qualname = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{module}.{qualname}" if module else qualname


def format_usd(amount: Decimal) -> str:
    """An exact amount without trailing zeros beyond cents: 12.5 -> '12.50', 0.000123 -> '0.000123'."""
    text = format(amount.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"
