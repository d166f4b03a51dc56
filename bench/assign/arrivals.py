"""A day of orders: Poisson arrivals per facility with an hourly curve in the facility's
local time (evening peak; night-coverage contracts send only their nights and weekends),
a modality and exam mix from the catalogue, a priority mix, and read times drawn around the
catalogue means. Drawn once and replayed for every policy.

Assumptions (docs/benchmarks.md): priorities at hospitals stroke 2 %, stat 15 %, asap 10 %,
urgent 20 %, routine 53 %; at imaging centres asap 5 %, urgent 20 %, routine 75 % (mammograms
always routine). Read times are lognormal (sigma 0.4) with the catalogue mean, times the
reader's own speed; a stroke head CT is a focused read of 8 min on average (Kalyanpur 2023:
teleradiology stroke NCCT turnaround 10.0 min on average). 12 % of orders bring a second
study of the same patient within 20 min. Weekends carry 15 % more than weekdays.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bench.assign.hours import inside, weekly_windows
from bench.assign.world import World
from services.assignment.engine.exams import CATALOGUE
from services.assignment.engine.model import Contract, Exam, Shift

ALWAYS = (Shift(frozenset(range(7)), time(0), time(0)),)  # a contract with no hours
READ_SIGMA = 0.4
STROKE_READ_MINUTES = 8.0
COMPANION_SHARE = 0.12
PRIORITY_MIX = {
    "hospital": {"stroke": 0.02, "stat": 0.15, "asap": 0.10, "urgent": 0.20, "routine": 0.53},
    "imaging": {"asap": 0.05, "urgent": 0.20, "routine": 0.75},
}
MODALITY_MIX = {
    "hospital": {"CT": 0.50, "DX": 0.25, "US": 0.12, "MR": 0.13},
    "imaging": {"MR": 0.40, "US": 0.25, "DX": 0.20, "MG": 0.15},
}
EXAM_MIX = {
    "CT": {"70450": 0.35, "71250": 0.20, "74176": 0.10, "74177": 0.30, "74178": 0.05},
    "MR": {"70551": 0.45, "72148": 0.35, "73721": 0.20},
    "DX": {"71045": 0.6, "71046": 0.4},
    "US": {"76700": 1.0},
    "MG": {"77067": 1.0},
}
# Relative volume by local hour (0-23) of a facility read around the clock: evening peak.
HOURLY: tuple[float, ...] = (0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0)
HOURLY += (1.0, 1.0, 1.1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.5, 1.4, 1.3, 1.1)
WEEKEND = 1.15


@dataclass(frozen=True, slots=True)
class Arrival:
    exam: Exam  # as the engine sees it (catalogue mean read time, no deadline yet)
    read_minutes: float  # the true read time at reader speed 1
    vendor_draw: float  # standard normal: where this order falls in a vendor's turnaround


def day_factor(weekday: int) -> float:
    return WEEKEND if weekday >= 5 else 1.0


def generate(
    world: World, start: datetime, end: datetime, *, load: float, seed: int
) -> list[Arrival]:
    """Orders arriving in [start, end) at `load` times the facilities' mean volume."""
    rng = random.Random(f"arrivals:{seed}")
    primaries = {c.facility: c for c in world.roster.contracts if c.kind == "primary"}
    drafts: list[tuple[datetime, str, dict[str, object]]] = []
    for facility in world.facilities.values():
        contract = primaries[facility.id]
        for at, fields in _facility_orders(rng, world, contract, start, end, load):
            drafts.append((at, facility.id, fields))
    drafts.sort(key=lambda d: (d[0], d[1]))
    return [_arrival(rng, n, at, fields) for n, (at, _, fields) in enumerate(drafts)]


def _facility_orders(
    rng: random.Random,
    world: World,
    contract: Contract,
    start: datetime,
    end: datetime,
    load: float,
) -> list[tuple[datetime, dict[str, object]]]:
    facility = world.facilities[contract.facility]
    zone = ZoneInfo(facility.timezone)
    covered = weekly_windows(contract.hours or ALWAYS, facility.timezone, start, end)
    week = weekly_windows(contract.hours or ALWAYS, facility.timezone, start, start + timedelta(7))
    weight_per_week = sum(_weight(h, zone) for h in _hours(week))
    per_hour = facility.volume * load * 7 / weight_per_week / (1 + COMPANION_SHARE)
    orders: list[tuple[datetime, dict[str, object]]] = []
    for hour in _hours(covered):
        for _ in range(_poisson(rng, per_hour * _weight(hour, zone))):
            at = hour + timedelta(seconds=rng.uniform(0, 3600))
            if not inside(covered, at):
                continue
            first = _order_fields(
                rng, world, contract, f"pat-{facility.id}-{rng.getrandbits(40):x}"
            )
            orders.append((at, first))
            if rng.random() < COMPANION_SHARE:
                second = _order_fields(rng, world, contract, str(first["patient"]), companion=first)
                later = at + timedelta(minutes=rng.uniform(0, 20))
                if later < end and inside(covered, later):
                    orders.append((later, second))
    return orders


def _hours(windows: list[tuple[datetime, datetime]]) -> list[datetime]:
    """The starts of the whole UTC hours that begin inside `windows`."""
    hours = []
    for begin, finish in windows:
        hour = begin.replace(minute=0, second=0, microsecond=0)
        hour = hour if hour == begin else hour + timedelta(hours=1)
        while hour < finish:
            hours.append(hour)
            hour += timedelta(hours=1)
    return hours


def _weight(hour: datetime, zone: ZoneInfo) -> float:
    local = hour.astimezone(zone)
    return HOURLY[local.hour] * day_factor(local.weekday())


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small hourly means here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _pick(rng: random.Random, mix: dict[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _order_fields(
    rng: random.Random,
    world: World,
    contract: Contract,
    patient: str,
    companion: dict[str, object] | None = None,
) -> dict[str, object]:
    facility = world.facilities[contract.facility]
    kind = "imaging" if facility.kind == "imaging" else "hospital"
    modalities = {m: w for m, w in MODALITY_MIX[kind].items() if m in facility.modalities}
    modality = _pick(rng, modalities)
    if companion is None:
        priority = _pick(rng, PRIORITY_MIX[kind])
    else:  # the same urgency, but only the first study is the stroke protocol
        priority = str(companion["priority"]).replace("stroke", "stat")
    if priority == "stroke":
        modality = "CT"
    code = "70450" if priority == "stroke" else _pick(rng, EXAM_MIX[modality])
    if companion is not None and code == companion["code"]:
        code = _pick(rng, EXAM_MIX[modality])
    if modality == "MG":
        priority = "routine"
    return {
        "facility": facility.id,
        "state": facility.state,
        "code": code,
        "modality": modality,
        "priority": priority,
        "patient": patient,
    }


def _arrival(rng: random.Random, n: int, at: datetime, fields: dict[str, object]) -> Arrival:
    kind = CATALOGUE[str(fields["code"])]
    stroke = fields["priority"] == "stroke"
    mean = STROKE_READ_MINUTES if stroke else kind.read_minutes
    true_minutes = rng.lognormvariate(math.log(mean) - READ_SIGMA**2 / 2, READ_SIGMA)
    exam = Exam(
        order_id=f"ord-{n:06d}",
        facility=str(fields["facility"]),
        state=str(fields["state"]),
        code=kind.code,
        modality=kind.modality,
        priority="stat" if stroke else str(fields["priority"]),
        ordered_at=at.astimezone(UTC),
        rvu=kind.rvu,
        read_minutes=mean,
        patient=str(fields["patient"]),
        stroke=stroke,
        subspecialty=kind.subspecialty,
    )
    return Arrival(exam, true_minutes, rng.gauss(0.0, 1.0))
