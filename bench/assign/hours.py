"""Weekly wall-clock hours (model.Shift) as UTC windows, DST-correct through zoneinfo."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.assignment.engine.model import Shift

Window = tuple[datetime, datetime]


def weekly_windows(
    shifts: Iterable[Shift], timezone: str, start: datetime, end: datetime
) -> list[Window]:
    """The UTC windows of `shifts` (wall clock in `timezone`) overlapping [start, end),
    clipped to it; touching or overlapping windows are merged."""
    zone = ZoneInfo(timezone)
    shifts = tuple(shifts)
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    windows: list[Window] = []
    while day <= last:
        for shift in shifts:
            if day.weekday() not in shift.days:
                continue
            end_day = day if shift.end > shift.start else day + timedelta(days=1)
            begin = datetime.combine(day, shift.start, zone).astimezone(UTC)
            finish = datetime.combine(end_day, shift.end, zone).astimezone(UTC)
            if finish > start and begin < end:
                windows.append((max(begin, start), min(finish, end)))
        day += timedelta(days=1)
    return merge(windows)


def merge(windows: Iterable[Window]) -> list[Window]:
    """Windows sorted, with touching or overlapping ones joined."""
    merged: list[Window] = []
    for begin, finish in sorted(windows):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def inside(windows: Sequence[Window], instant: datetime) -> bool:
    """Whether `instant` falls in one of the sorted, disjoint `windows` (start inclusive)."""
    at = bisect_right(windows, (instant, datetime.max.replace(tzinfo=UTC))) - 1
    return at >= 0 and windows[at][0] <= instant < windows[at][1]


def hours_in(windows: Iterable[Window], start: datetime, end: datetime) -> float:
    """Hours of `windows` that fall within [start, end)."""
    seconds = 0.0
    for begin, finish in windows:
        overlap = (min(finish, end) - max(begin, start)).total_seconds()
        seconds += max(overlap, 0.0)
    return seconds / 3600
