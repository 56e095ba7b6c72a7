"""``report --since/--until``: durations, dates and instants, and one-line errors for anything else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from otel_llm_cost._report_period import Period, PeriodError, parse_period

UTC = timezone.utc
NOW = datetime(2026, 11, 21, 9, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        (" 2W ", NOW - timedelta(weeks=2)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T12:00", datetime(2026, 11, 1, 12, tzinfo=UTC)),  # naive means UTC
        ("2026-11-01T12:00+02:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),
    ],
)
def test_since_forms(since: str, expected: datetime) -> None:
    assert parse_period(since, None, now=NOW) == Period(expected, None)


def test_until_a_date_includes_that_whole_day() -> None:
    period = parse_period("2026-11-01", "2026-11-30", now=NOW)
    assert period == Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert period.label() == "2026-11-01 00:00 to 2026-12-01 00:00 UTC"
    assert parse_period(None, "1h", now=NOW) == Period(None, NOW - timedelta(hours=1))


def test_labels() -> None:
    assert Period().label() == "all time" and Period().is_open
    assert Period(NOW).label() == "since 2026-11-21 09:30 UTC"
    assert Period(None, NOW).label() == "before 2026-11-21 09:30 UTC"


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("7x", None, "--since '7x' is not a duration (30m, 24h, 7d, 2w), a date (2026-11-01) or a date and time"),
        ("yesterday", None, "--since 'yesterday' is not a duration"),
        ("2026-13-01", None, "--since '2026-13-01' is not a duration"),
        (None, "-3d", "--until '-3d' is not a duration"),
        ("1d", "2d", "--since (2026-11-20 09:30 UTC) must be before --until (2026-11-19 09:30 UTC)"),
        ("2026-11-02", "2026-11-01", "--since (2026-11-02 00:00 UTC) must be before --until (2026-11-02 00:00 UTC)"),
    ],
)
def test_bad_values_are_one_clear_error(since: str | None, until: str | None, message: str) -> None:
    with pytest.raises(PeriodError) as error:
        parse_period(since, until, now=NOW)
    assert str(error.value).startswith(message)
