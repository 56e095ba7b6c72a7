"""``7d``, ``12h``, ``2026-11-01``: the instants that ``--since`` and ``--older-than`` accept."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

_AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
EXAMPLES = "e.g. 7d, 12h, 2w, 2026-11-01 or 2026-11-01T09:30"


def parse_instant(text: str, *, now: datetime) -> datetime:
    """An age before ``now`` (``7d``, ``12h``, ``2w``) or a date or time (UTC unless it says).

    A date means its midnight, UTC. Raises ``ValueError`` with a message that gives examples.
    """
    match = _AGE.match(text)
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither an age nor a date ({EXAMPLES})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def utc_day(instant: datetime) -> date:
    return instant.astimezone(timezone.utc).date()
