"""The simulated world: client facilities in six states and four US time zones, their
contracts with the reading group and two partner vendors, and the group's radiologists in
the US and at follow-the-sun sites abroad -- all as the engine's model values, seeded.

Assumptions (stated in docs/benchmarks.md): a facility sends us only what its contract
covers, so a night-coverage hospital's volume falls in its nights; the reading group staffs
its shifts for the evening/night peak; a radiologist holds licences in several of the six
states and privileges at most facilities there; a few licences and privileges are expired or
expire during the day, as on any real roster.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, time, timedelta

from services.assignment.engine.model import (
    Contract,
    Licence,
    Privilege,
    Reader,
    Roster,
    Shift,
    Span,
)

GROUP = "org-northstar-radiology"  # the reading group: the platform's operator
STATE_ZONES = {
    "NY": "America/New_York",
    "FL": "America/New_York",
    "TX": "America/Chicago",
    "IL": "America/Chicago",
    "CO": "America/Denver",
    "CA": "America/Los_Angeles",
}
STATE_SHARE = {"NY": 0.19, "FL": 0.19, "TX": 0.19, "IL": 0.13, "CO": 0.09, "CA": 0.21}
SUBSPECIALTY_SHARE = {
    "neuro": 0.24,
    "body": 0.30,
    "chest": 0.14,
    "msk": 0.15,
    "breast": 0.09,
    "pediatric": 0.08,
}
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
# Facility kinds: (share, coverage of the primary contract, modalities sent to us).
KINDS = {
    "hospital": (0.45, "around the clock", frozenset({"CT", "DX", "US", "MR"})),
    "night": (0.40, "nights and weekends", frozenset({"CT", "DX", "US", "MR"})),
    "imaging": (0.15, "weekdays and Saturday 07:00-20:00", frozenset({"MR", "US", "DX", "MG"})),
}
NIGHTS_AND_WEEKENDS = (
    Shift(WEEKDAYS, time(17), time(8)),
    Shift(frozenset({5, 6}), time(8), time(8)),
)
IMAGING_HOURS = (Shift(frozenset(range(6)), time(7), time(20)),)


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    state: str
    timezone: str
    kind: str  # hospital | night | imaging
    volume: float  # mean studies per day at load 1
    modalities: frozenset[str]


@dataclass(frozen=True, slots=True)
class Vendor:
    """A partner vendor reading overflow: lognormal turnaround with these medians."""

    group: str
    median_minutes: dict[str, float]  # per priority, and "stroke"
    sigma: float = 0.45


@dataclass(frozen=True, slots=True)
class WorldShape:
    facilities: int = 100
    us_readers: int = 58
    sydney_readers: int = 8
    zurich_readers: int = 6
    privilege_share: float = 0.7  # of the facilities in a reader's licensed states
    studies_per_facility: float = 8.5  # per day (domain.md: vRad ~8.5)


@dataclass
class World:
    roster: Roster
    facilities: dict[str, Facility]
    vendors: dict[str, Vendor]
    first_day: date
    speed: dict[str, float] = field(default_factory=dict)  # reader id -> read-time factor

    @property
    def readers(self) -> tuple[Reader, ...]:
        return self.roster.readers


VENDORS = (
    Vendor(
        "org-vendor-nightwatch",
        {"stroke": 18, "stat": 40, "asap": 100, "urgent": 240, "routine": 480},
    ),
    Vendor("org-vendor-keystone", {"asap": 240, "urgent": 480, "routine": 900}),
)


def build_world(shape: WorldShape, *, seed: int, first_day: date) -> World:
    """A seeded world of `shape`, with licences and privileges judged from `first_day`."""
    rng = random.Random(f"world:{seed}")
    facilities = [_facility(rng, n, shape) for n in range(shape.facilities)]
    contracts = [c for f in facilities for c in _contracts(rng, f)]
    readers: list[Reader] = []
    speed: dict[str, float] = {}
    sites = (
        [("US", None)] * shape.us_readers
        + [("Sydney", "Australia/Sydney")] * shape.sydney_readers
        + [("Zurich", "Europe/Zurich")] * shape.zurich_readers
    )
    for n, (site, zone) in enumerate(sites):
        reader = _reader(rng, n, site, zone, facilities, shape, first_day)
        readers.append(reader)
        speed[reader.id] = rng.lognormvariate(0.0, 0.15)
    _retire_one(readers)
    return World(
        roster=Roster(readers=tuple(readers), contracts=tuple(contracts)),
        facilities={f.id: f for f in facilities},
        vendors={v.group: v for v in VENDORS},
        first_day=first_day,
        speed=speed,
    )


def _facility(rng: random.Random, n: int, shape: WorldShape) -> Facility:
    state = rng.choices(list(STATE_SHARE), weights=list(STATE_SHARE.values()))[0]
    kind = rng.choices(list(KINDS), weights=[k[0] for k in KINDS.values()])[0]
    modalities = set(KINDS[kind][2])
    if kind != "imaging" and rng.random() < 0.25:
        modalities.discard("MR")  # night cover for CT, radiographs and ultrasound only
    volume = shape.studies_per_facility * rng.gammavariate(2.0, 0.5)
    return Facility(
        f"fac-{state.lower()}-{n:04d}",
        state,
        STATE_ZONES[state],
        kind,
        volume,
        frozenset(modalities),
    )


def _targets(rng: random.Random, kind: str) -> dict[str, timedelta]:
    """SLA turnaround per priority: the issue's defaults with per-contract variety."""
    minutes = {
        "stroke": 20,
        "stat": rng.choices([60, 45], weights=[0.8, 0.2])[0],
        "asap": rng.choices([240, 120], weights=[0.7, 0.3])[0],
        "urgent": rng.choices([720, 480], weights=[0.7, 0.3])[0],
        "routine": rng.choices([1440, 720], weights=[0.8, 0.2])[0],
    }
    if kind == "imaging":  # outpatient routine work: two days
        minutes["routine"] = 2880
    return {p: timedelta(minutes=m) for p, m in minutes.items()}


def _subspecialist_exams(rng: random.Random, facility: Facility) -> dict[str, str]:
    exams: dict[str, str] = {}
    if "MG" in facility.modalities:
        exams["77067"] = "breast"
    if "MR" in facility.modalities and rng.random() < 0.35:
        exams["70551"] = "neuro"
    if "MR" in facility.modalities and rng.random() < 0.25:
        exams["73721"] = "msk"
        exams["72148"] = "msk"
    return exams


def _contracts(rng: random.Random, facility: Facility) -> list[Contract]:
    hours = {"hospital": (), "night": NIGHTS_AND_WEEKENDS, "imaging": IMAGING_HOURS}
    primary = Contract(
        id=f"contract-{facility.id}-primary",
        facility=facility.id,
        group=GROUP,
        modalities=facility.modalities,
        hours=hours[facility.kind],
        timezone=facility.timezone,
        targets=_targets(rng, facility.kind),
        subspecialist_exams=_subspecialist_exams(rng, facility),
    )
    contracts = [primary]
    vendor_targets = {
        p: timedelta(minutes=m)
        for p, m in {"stroke": 30, "stat": 120, "asap": 360, "urgent": 720, "routine": 1440}.items()
    }
    if rng.random() < 0.75:
        contracts.append(
            Contract(
                id=f"contract-{facility.id}-nightwatch",
                facility=facility.id,
                group="org-vendor-nightwatch",
                kind="overflow",
                modalities=facility.modalities - {"MG"},
                timezone=facility.timezone,
                targets=vendor_targets,
            )
        )
    if facility.modalities & {"MR", "MG"} and rng.random() < (
        0.8 if "MG" in facility.modalities else 0.4
    ):
        contracts.append(
            Contract(
                id=f"contract-{facility.id}-keystone",
                facility=facility.id,
                group="org-vendor-keystone",
                kind="overflow",
                modalities=facility.modalities & {"MR", "MG"},
                priorities=frozenset({"asap", "urgent", "routine"}),
                timezone=facility.timezone,
                targets=vendor_targets,
            )
        )
    return contracts


def _us_shifts(rng: random.Random, n: int) -> tuple[str, tuple[Shift, ...]]:
    """A US radiologist's week: day, evening or night shifts, or weekends, ~4 a week."""
    pattern = rng.choices(["day", "evening", "night", "weekend"], weights=[26, 34, 28, 12])[0]
    if pattern == "day":  # night-coverage contracts send whole weekends: days include them
        days = frozenset(rng.sample(range(7), 4))
        return pattern, (Shift(days, time(8), time(17)),)
    if pattern == "evening":
        days = frozenset(rng.sample(range(7), 4))
        return pattern, (Shift(days, time(15), time(0)),)
    if pattern == "night":
        days = frozenset(rng.sample(range(7), 4))
        return pattern, (Shift(days, time(22), time(7)),)
    return pattern, (
        Shift(frozenset({5, 6}), time(8), time(20)),
        Shift(frozenset({rng.randrange(5)}), time(12), time(21)),
    )


def _abroad_shifts(rng: random.Random, site: str) -> tuple[Shift, ...]:
    """Follow the sun: Sydney's day is the US evening, Zurich's the US night."""
    days = frozenset(rng.sample(range(7), 5))
    if site == "Sydney":
        return (Shift(days, time(8), time(17)),)
    return (Shift(days, time(7), time(16)),)


def _skills(rng: random.Random) -> tuple[frozenset[str], frozenset[str]]:
    """(subspecialties, modalities) of one radiologist."""
    names = list(SUBSPECIALTY_SHARE)
    weights = list(SUBSPECIALTY_SHARE.values())
    subspecialties = {rng.choices(names, weights=weights)[0]}
    if rng.random() < 0.35:
        subspecialties.add(rng.choices(names, weights=weights)[0])
    modalities = {"CT", "DX"}
    if rng.random() < 0.8:
        modalities.add("US")
    if subspecialties & {"neuro", "msk"} or rng.random() < 0.7:
        modalities.add("MR")
    if "breast" in subspecialties:
        modalities |= {"MG", "US"}
    return frozenset(subspecialties), frozenset(modalities)


def _licences(
    rng: random.Random, home: str | None, abroad: bool, first_day: date, n: int
) -> tuple[Licence, ...]:
    share = 0.8 if abroad else 0.55
    states = sorted({s for s in STATE_ZONES if s == home or rng.random() < share})
    licences = [Licence(s) for s in states]
    # Roster dirt: one in eight holds a licence that lapsed yesterday or lapses today.
    if n % 8 == 3 and len(licences) > 1:
        lapse = first_day - timedelta(days=1) if n % 16 == 3 else first_day
        victim = next(i for i, lic in enumerate(licences) if lic.state != home)
        licences[victim] = Licence(licences[victim].state, Span(end=lapse))
    return tuple(licences)


def _privileges(
    rng: random.Random,
    facilities: list[Facility],
    states: set[str],
    shape: WorldShape,
    first_day: date,
) -> tuple[Privilege, ...]:
    privileges = []
    for facility in facilities:
        if facility.state not in states or rng.random() >= shape.privilege_share:
            continue
        span = Span(end=first_day - timedelta(days=3)) if rng.random() < 0.02 else Span()
        privileges.append(Privilege(facility.id, span))
    return tuple(privileges)


def _reader(
    rng: random.Random,
    n: int,
    site: str,
    zone: str | None,
    facilities: list[Facility],
    shape: WorldShape,
    first_day: date,
) -> Reader:
    abroad = zone is not None
    home = None if abroad else rng.choices(list(STATE_SHARE), weights=list(STATE_SHARE.values()))[0]
    timezone = zone or STATE_ZONES[home or "NY"]
    pattern, shifts = (site, _abroad_shifts(rng, site)) if abroad else _us_shifts(rng, n)
    licences = _licences(rng, home, abroad, first_day, n)
    subspecialties, modalities = _skills(rng)
    return Reader(
        id=f"role-rad-{n:04d}",
        practitioner=f"pract-rad-{n:04d}",
        name=f"Radiologist {n:04d} ({home or site}, {pattern})",
        group=GROUP,
        timezone=timezone,
        licences=licences,
        privileges=_privileges(rng, facilities, {lic.state for lic in licences}, shape, first_day),
        modalities=modalities,
        subspecialties=subspecialties,
        shifts=shifts,
        max_open_tasks=rng.randint(6, 10),
        max_rvu_per_hour=float(rng.randint(10, 16)),
    )


def _retire_one(readers: list[Reader]) -> None:
    """Roster dirt: one role ended last month (still listed, no longer active)."""
    if len(readers) > 10:
        readers[7] = replace(readers[7], active=False)
