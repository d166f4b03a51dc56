"""Small readers of FHIR values the roster's parsing and its validation share: extensions
by url, wall-clock times, IANA zones and the days a Period covers."""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from services.assignment.engine.model import Span


def extensions(element: dict[str, Any] | None, url: str) -> list[dict[str, Any]]:
    """The extensions of `element` with `url`, in order."""
    return [e for e in (element or {}).get("extension") or [] if e.get("url") == url]


def first_extension(element: dict[str, Any] | None, url: str) -> dict[str, Any] | None:
    return next(iter(extensions(element, url)), None)


def extension_values(element: dict[str, Any] | None, url: str, value: str) -> list[Any]:
    """The `value` (e.g. "valueCode") of each extension of `element` with `url` that has one."""
    return [e[value] for e in extensions(element, url) if e.get(value) is not None]


def parts(extension: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The sub-extensions of a complex extension, by url."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for part in (extension or {}).get("extension") or []:
        found[str(part.get("url"))].append(part)
    return found


def wall_time(text: str) -> time:
    """A FHIR time ("hh:mm:ss", fractions allowed); a leap second counts as :59."""
    hours, minutes, seconds = text.split(":")
    whole = min(int(seconds.split(".")[0]), 59)
    return time(int(hours), int(minutes), whole)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: Any) -> ZoneInfo | None:
    """The IANA zone called `name`, or None when there is no such zone."""
    if not isinstance(name, str) or name not in _zones():
        return None
    return ZoneInfo(name)


def day_of(text: str, *, last: bool) -> date:
    """The first (or `last`) day a FHIR date or dateTime `text` can mean (a partial date
    such as "2027" or "2027-06" stands for all of that year or month)."""
    numbers = [int(p) for p in text[:10].split("-")]
    year, month, day_of_month = [*numbers, 0, 0][:3]
    if not month:
        return date(year, 12, 31) if last else date(year, 1, 1)
    if not day_of_month:
        return (
            date(year, month, calendar.monthrange(year, month)[1]) if last else date(year, month, 1)
        )
    return date(year, month, day_of_month)


def span(period: dict[str, Any] | None) -> Span:
    """The days a FHIR Period covers, both ends included (a dateTime counts by its date;
    an open end is unbounded)."""
    start = (period or {}).get("start")
    end = (period or {}).get("end")
    return Span(
        day_of(start, last=False) if start else None,
        day_of(end, last=True) if end else None,
    )
