"""The report's time filter: ``--since``/``--until`` text -> a half-open UTC interval of start times.

Accepted forms (``now`` is passed in, so tests pin it):

- a duration back from now: ``30m``, ``24h``, ``7d``, ``2w``;
- a date, ``2026-11-01``: midnight UTC starting that day for ``--since``, and the *end* of that day
  for ``--until``, so ``--since 2026-11-01 --until 2026-11-30`` is the whole of November;
- a date and time, ``2026-11-01T12:00`` (UTC unless it names an offset, ``...+02:00``).

A call belongs to the period when ``since <= start_time < until``; either bound may be open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PeriodError(ValueError):
    """A ``--since``/``--until`` value that is not a duration, a date or a date and time."""


@dataclass(frozen=True)
class Period:
    """Calls that started in ``[since, until)``; ``None`` leaves that side open."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_open(self) -> bool:
        """No bound at all: every call."""
        return self.since is None and self.until is None

    def label(self) -> str:
        """E.g. ``2026-11-14 09:30 to 2026-11-21 09:30 UTC``, ``since 2026-11-01 00:00 UTC``, ``all time``."""
        since, until = (f"{t:%Y-%m-%d %H:%M}" if t else None for t in (self.since, self.until))
        if since and until:
            return f"{since} to {until} UTC"
        if since:
            return f"since {since} UTC"
        return f"before {until} UTC" if until else "all time"


def parse_period(since: str | None, until: str | None, *, now: datetime) -> Period:
    """Parse the two options into a :class:`Period`.

    Raises:
        PeriodError: a value is malformed, or ``since`` is not before ``until``.
    """
    start = _parse(since, "--since", now=now, end_of_day=False) if since else None
    end = _parse(until, "--until", now=now, end_of_day=True) if until else None
    if start is not None and end is not None and start >= end:
        raise PeriodError(f"--since ({start:%Y-%m-%d %H:%M} UTC) must be before --until ({end:%Y-%m-%d %H:%M} UTC)")
    return Period(start, end)


def day_window(days: int, *, today: date) -> Period:
    """The ``days`` UTC days up to and including ``today``."""
    start = datetime.combine(today - timedelta(days=days - 1), time(), timezone.utc)
    return Period(start, datetime.combine(today + timedelta(days=1), time(), timezone.utc))


def _parse(text: str, option: str, *, now: datetime, end_of_day: bool) -> datetime:
    duration = _DURATION.match(text)
    if duration:
        return now - timedelta(**{_UNITS[duration.group(2).lower()]: int(duration.group(1))})
    value = text.strip()
    try:
        if _DATE.match(value):
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end_of_day else day, time(), timezone.utc)
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None:
        raise PeriodError(
            f"{option} {text!r} is not a duration (30m, 24h, 7d, 2w), a date (2026-11-01) "
            "or a date and time (2026-11-01T12:00)"
        )
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
