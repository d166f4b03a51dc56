"""On shift, in the reader's own time zone: wall-clock shifts across DST changes,
overnight shifts across midnight, follow-the-sun readers abroad, unavailable windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.assignment.engine.clock import describe_days, shift_end, shift_start, zone
from services.assignment.engine.model import Constraint
from services.assignment.tests.engine.factory import (
    NOW,
    WEEKDAYS,
    engine,
    exam,
    reader,
    shift,
)


def _shift_failure(when: datetime, **reader_changes: Any) -> str | None:
    """The SHIFT failure detail of reader r1 at `when`, or None when on shift."""
    candidate = engine((reader(**reader_changes),)).evaluate(exam(ordered_at=when), when)[0]
    details = [f.detail for f in candidate.failures if f.constraint is Constraint.SHIFT]
    return details[0] if details else None


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NIGHT = (shift("22:00", "06:00"),)
NEW_YORK_DAY: dict[str, Any] = {
    "timezone": "America/New_York",
    "shifts": (shift("08:00", "16:00"),),
}
NEW_YORK_NIGHT: dict[str, Any] = {"timezone": "America/New_York", "shifts": NIGHT}


def test_a_day_shift_keeps_its_wall_clock_hours_across_the_march_change() -> None:
    # 2026-03-08: New York moves from UTC-5 to UTC-4 at 02:00.
    assert _shift_failure(_at("2026-03-07T12:30"), **NEW_YORK_DAY) is not None  # 07:30 EST
    assert _shift_failure(_at("2026-03-07T13:30"), **NEW_YORK_DAY) is None  # 08:30 EST
    assert _shift_failure(_at("2026-03-08T12:30"), **NEW_YORK_DAY) is None  # 08:30 EDT
    assert _shift_failure(_at("2026-03-08T20:30"), **NEW_YORK_DAY) is not None  # 16:30 EDT


def test_a_day_shift_keeps_its_wall_clock_hours_across_the_november_change() -> None:
    # 2026-11-01: New York moves from UTC-4 back to UTC-5 at 02:00.
    assert _shift_failure(_at("2026-10-31T12:30"), **NEW_YORK_DAY) is None  # 08:30 EDT
    assert _shift_failure(_at("2026-11-01T12:30"), **NEW_YORK_DAY) is not None  # 07:30 EST
    assert _shift_failure(_at("2026-11-01T20:30"), **NEW_YORK_DAY) is None  # 15:30 EST


def test_an_overnight_shift_on_the_spring_forward_night_is_an_hour_shorter() -> None:
    # 22:00 EST (03:00 UTC) to 06:00 EDT (10:00 UTC): seven hours.
    assert _shift_failure(_at("2026-03-08T02:30"), **NEW_YORK_NIGHT) is not None
    assert _shift_failure(_at("2026-03-08T09:30"), **NEW_YORK_NIGHT) is None  # 05:30 EDT
    assert _shift_failure(_at("2026-03-08T10:30"), **NEW_YORK_NIGHT) is not None  # 06:30 EDT
    tz = zone("America/New_York")
    assert tz is not None
    assert shift_end(NIGHT, _at("2026-03-08T04:00"), tz) == _at("2026-03-08T10:00")


def test_an_overnight_shift_on_the_fall_back_night_is_an_hour_longer() -> None:
    # 22:00 EDT (02:00 UTC) to 06:00 EST (11:00 UTC): nine hours.
    assert _shift_failure(_at("2026-11-01T10:30"), **NEW_YORK_NIGHT) is None  # 05:30 EST
    assert _shift_failure(_at("2026-11-01T11:30"), **NEW_YORK_NIGHT) is not None  # 06:30 EST
    tz = zone("America/New_York")
    assert tz is not None
    assert shift_end(NIGHT, _at("2026-11-01T03:00"), tz) == _at("2026-11-01T11:00")


def test_an_overnight_shift_belongs_to_the_day_it_starts() -> None:
    friday_night: dict[str, Any] = {
        "timezone": "America/Chicago",
        "shifts": (shift("22:00", "06:00", frozenset({4})),),
    }
    assert _shift_failure(_at("2026-11-28T09:00"), **friday_night) is None  # Sat 03:00
    assert _shift_failure(_at("2026-11-27T09:00"), **friday_night) is not None  # Fri 03:00
    assert _shift_failure(_at("2026-11-28T05:00"), **friday_night) is None  # Fri 23:00
    assert _shift_failure(_at("2026-11-29T05:00"), **friday_night) is not None  # Sat 23:00


def test_a_sydney_day_shift_reads_the_us_night_and_says_why_when_off() -> None:
    sydney: dict[str, Any] = {
        "timezone": "Australia/Sydney",
        "shifts": (shift("08:00", "16:00", WEEKDAYS),),
    }
    # Thu 22:00 UTC = Fri 09:00 AEDT (UTC+11 in November): on shift.
    assert _shift_failure(_at("2026-11-26T22:00"), **sydney) is None
    assert (
        _shift_failure(_at("2026-11-26T15:10"), **sydney)
        == "Off shift: Fri 02:10 Australia/Sydney, shifts Mon-Fri 08:00-16:00"
    )
    # Sydney's own change: UTC+10 until 2026-10-04 02:00, then UTC+11.
    assert _shift_failure(_at("2026-10-01T22:30"), **sydney) is None  # Fri 08:30 AEST
    assert _shift_failure(_at("2026-10-05T21:30"), **sydney) is None  # Tue 08:30 AEDT


def test_an_unavailable_window_takes_a_reader_off_shift() -> None:
    window = ((NOW - timedelta(hours=1), NOW + timedelta(hours=2)),)
    assert _shift_failure(NOW, unavailable=window) == "Unavailable until 2026-11-25 17:00 UTC"
    assert _shift_failure(NOW + timedelta(hours=2), unavailable=window) is None


def test_a_reader_without_published_shifts_reads_around_the_clock() -> None:
    assert _shift_failure(_at("2026-11-29T08:00")) is None


def test_an_unknown_time_zone_fails_the_shift_check_clearly() -> None:
    detail = _shift_failure(NOW, timezone="Mars/Olympus", shifts=(shift("00:00", "00:00"),))
    assert detail == "Unknown time zone Mars/Olympus"


def test_back_to_back_shifts_end_when_the_last_one_ends() -> None:
    tz = zone("America/Chicago")
    assert tz is not None
    shifts = (shift("08:00", "16:00"), shift("16:00", "20:00"))
    assert shift_end(shifts, NOW, tz) == _at("2026-11-26T02:00")  # 20:00 CST


def test_time_on_shift_starts_when_the_first_of_back_to_back_shifts_began() -> None:
    tz = zone("America/Chicago")
    assert tz is not None
    shifts = (shift("22:00", "06:00"), shift("06:00", "14:00"))  # a night, then a day
    assert shift_start(shifts, NOW, tz) == _at("2026-11-25T04:00")  # 22:00 CST the night before
    assert shift_start((shift("08:00", "16:00"),), NOW, tz) == _at("2026-11-25T14:00")
    assert shift_start((shift("10:00", "16:00"),), NOW, tz) is None  # 09:00: not yet on


def test_days_are_described_as_runs() -> None:
    assert describe_days(frozenset({0, 1, 2, 3, 4})) == "Mon-Fri"
    assert describe_days(frozenset({0, 2, 4})) == "Mon,Wed,Fri"
    assert describe_days(frozenset(range(7))) == "daily"
