"""Wall-clock hours in a time zone: readers' shifts and contracts' coverage hours.

A Shift is wall-clock time in its zone, so "08:00-16:00" stays 08:00-16:00 across a
daylight-saving change: the instant is converted to the zone (zoneinfo) and compared on the
local clock. A shift whose end is at or before its start runs past midnight and belongs
to the day it starts on ("Fri 22:00-06:00" covers Saturday 03:00).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.assignment.engine.model import Shift

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone `name`, or None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def overnight(shift: Shift) -> bool:
    return shift.end <= shift.start


def shift_in_force(shifts: Iterable[Shift], local: datetime) -> tuple[Shift, date] | None:
    """The shift covering the wall-clock time `local`, with the day it started on."""
    clock, weekday, day = local.time(), local.weekday(), local.date()
    for shift in shifts:
        if (
            weekday in shift.days
            and clock >= shift.start
            and (overnight(shift) or clock < shift.end)
        ):
            return shift, day
        if overnight(shift) and (weekday - 1) % 7 in shift.days and clock < shift.end:
            return shift, day - _ONE_DAY
    return None


def _local_end(shift: Shift, started: date, tz: ZoneInfo) -> datetime:
    # A wall-clock end inside a spring-forward gap or a fall-back fold takes zoneinfo's
    # default (fold=0): the earlier offset, so the end is never later than the clock says.
    day = started + _ONE_DAY if overnight(shift) else started
    return datetime.combine(day, shift.end, tzinfo=tz)


def shift_end(shifts: tuple[Shift, ...], now: datetime, tz: ZoneInfo) -> datetime | None:
    """When the reader's time on shift that covers `now` ends (UTC), following shifts
    that begin where the previous one ends; None when off shift."""
    local = now.astimezone(tz)
    found = shift_in_force(shifts, local)
    end: datetime | None = None
    for _ in range(8):  # a week of back-to-back shifts at most
        if found is None:
            break
        end = _local_end(*found, tz)
        following = shift_in_force(shifts, end)
        if following is None or following == found:
            break
        found = following
    return end.astimezone(UTC) if end is not None else None


def shift_start(shifts: tuple[Shift, ...], now: datetime, tz: ZoneInfo) -> datetime | None:
    """When the reader's time on shift that covers `now` began (UTC), following shifts
    that end where the next one begins; None when off shift."""
    found = shift_in_force(shifts, now.astimezone(tz))
    start: datetime | None = None
    for _ in range(8):  # a week of back-to-back shifts at most
        if found is None:
            break
        shift, day = found
        start = datetime.combine(day, shift.start, tzinfo=tz)
        before = (start.astimezone(UTC) - _ONE_SECOND).astimezone(tz)
        previous = shift_in_force(shifts, before)
        if previous is None or previous == found:
            break
        found = previous
    return start.astimezone(UTC) if start is not None else None


def describe_days(days: frozenset[int]) -> str:
    """'Mon-Fri', 'Sat-Sun', 'Mon,Wed,Fri' or 'daily'."""
    if len(days) == 7:
        return "daily"
    ordered = sorted(days)
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        DAY_NAMES[run[0]] if len(run) == 1 else f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}"
        for run in runs
    )


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


@lru_cache(maxsize=4096)
def describe_shifts(shifts: tuple[Shift, ...]) -> str:
    """'Mon-Fri 08:00-16:00, Sat 22:00-06:00' (or 'none')."""
    text = ", ".join(
        f"{describe_days(s.days)} {_hhmm(s.start)}-{_hhmm(s.end)}" for s in shifts if s.days
    )
    return text or "none"


def describe_local(local: datetime, zone_name: str) -> str:
    """'Fri 02:10 Australia/Sydney'."""
    return f"{DAY_NAMES[local.weekday()]} {local.strftime('%H:%M')} {zone_name}"
