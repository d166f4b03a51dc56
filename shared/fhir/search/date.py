"""Date search with prefixes eq, ne, lt, gt, le, ge, sa, eb over half-open ranges.

A FHIR date means the whole span of its precision: "2026-03" is [2026-03-01, 2026-04-01).
Values are indexed as such ranges, so that "ge2026-03-02" matches a resource dated
"2026-03" (the ranges overlap) exactly as the FHIR search rules say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_

from shared.fhir.outcomes import bad_request

MIN_DATE = datetime(1, 1, 1, tzinfo=UTC)
MAX_DATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    return moment.replace(year=moment.year + month_index // 12, month=month_index % 12 + 1)


def parse_range(text: str) -> tuple[datetime, datetime]:
    """The half-open UTC range a FHIR date, dateTime or instant stands for."""
    match = _DATE_RE.match(text)
    if match is None:
        raise ValueError("not a FHIR date")
    g = match.groupdict()
    tz: timezone = UTC
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    fraction = g["f"] or ""
    low = datetime(
        int(g["y"]),
        int(g["m"] or 1),
        int(g["d"] or 1),
        int(g["H"] or 0),
        int(g["M"] or 0),
        int(g["S"] or 0),
        int((fraction + "000000")[:6]) if fraction else 0,
        tzinfo=tz,
    ).astimezone(UTC)
    if fraction:
        step = timedelta(microseconds=max(1, 10 ** (6 - min(len(fraction), 6))))
        return low, low + step
    if g["S"]:
        return low, low + timedelta(seconds=1)
    if g["M"]:
        return low, low + timedelta(minutes=1)
    if g["d"]:
        return low, low + timedelta(days=1)
    if g["m"]:
        return low, _add_months(low, 1)
    return low, low.replace(year=low.year + 1)


def extract(value: Any) -> Iterator[tuple[datetime, datetime]]:
    """Ranges for a date/dateTime/instant string or a Period."""
    try:
        if isinstance(value, str):
            yield parse_range(value)
        elif isinstance(value, dict) and ("start" in value or "end" in value):
            low = parse_range(value["start"])[0] if value.get("start") else MIN_DATE
            high = parse_range(value["end"])[1] if value.get("end") else MAX_DATE
            yield low, high
    except (ValueError, OverflowError):
        return  # an unparseable date is not indexed; validation reports it


def split_prefix(text: str) -> tuple[str, str]:
    if len(text) > 2 and text[:2] in PREFIXES:
        return text[:2], text[2:]
    return "eq", text


def parse_search_value(text: str, expression: str) -> tuple[str, tuple[datetime, datetime]]:
    """The prefix and range of a date search value such as `ge2026-01-31`; 400 if bad."""
    prefix, value = split_prefix(text)
    try:
        return prefix, parse_range(value)
    except (ValueError, OverflowError):
        raise bad_request(
            f"'{expression}' needs a FHIR date, e.g. ge2026-01-31", expression
        ) from None


def range_condition(
    low: ColumnElement[Any], high: ColumnElement[Any], text: str, *, expression: str
) -> ColumnElement[bool]:
    """SQL matching stored ranges [low, high) against one prefixed search value."""
    prefix, (q_low, q_high) = parse_search_value(text, expression)
    match prefix:
        case "eq":
            return and_(low >= q_low, high <= q_high)
        case "ne":
            return not_(and_(low >= q_low, high <= q_high))
        case "lt":
            return low < q_low
        case "gt":
            return high > q_high
        case "le":
            return low < q_high
        case "ge":
            return high > q_low
        case "sa":
            return low >= q_high
        case _:  # "eb"
            return high <= q_low


def instant_condition(
    moment: ColumnElement[Any], text: str, *, expression: str
) -> ColumnElement[bool]:
    """SQL matching a stored instant (e.g. meta.lastUpdated) against one prefixed value.

    An instant is a point, not a range: treating it as the empty range [t, t) would make
    `ge<t>` miss the resource last updated at t and `eb<t>` match it.
    """
    prefix, (q_low, q_high) = parse_search_value(text, expression)
    match prefix:
        case "eq":
            return and_(moment >= q_low, moment < q_high)
        case "ne":
            return not_(and_(moment >= q_low, moment < q_high))
        case "lt" | "eb":
            return moment < q_low
        case "gt" | "sa":
            return moment >= q_high
        case "le":
            return moment < q_high
        case _:  # "ge"
            return moment >= q_low


def any_condition(
    low: ColumnElement[Any], high: ColumnElement[Any], values: list[str], *, expression: str
) -> ColumnElement[bool]:
    return or_(*(range_condition(low, high, v, expression=expression) for v in values))
