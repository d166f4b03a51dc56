"""The world of bench/assign_service.py: a reading group's roster over client facilities,
written through the assignment API as a client would (one transaction Bundle per
radiologist, one create per contract), and the orders to route with their patients.

Shapes follow the routing tests' builders (services/assignment/tests/roster_builders.py and
builders.py): licences as Plan-Net qualifications, privileges as PractitionerRoles at the
facility, one membership role per radiologist (on shift around the clock, in UTC, so that
the run does not depend on the hour), a primary contract with the group and an overflow
contract with a partner vendor per facility.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.assignment import codes
from services.assignment.tests.builders import facility_role, licence, radiologist
from services.assignment.tests.roster_builders import (
    capacity,
    contract,
    membership,
    read_modality,
    shift,
    sla_target,
    subspecialty,
)
from shared.fhir.service import format_instant, now_utc
from shared.orders import SNOMED, STROKE_CODES

GROUP = "Organization/bench-reading-group"
VENDOR = "Organization/bench-partner-vendor"
STATES = ("TX", "CA", "NY", "FL", "IL", "CO", "WA", "GA")
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SUBSPECIALTY_SHARE = {"neuro": 24, "body": 30, "chest": 14, "msk": 15, "breast": 9, "pediatric": 8}
# (CPT, share %): the catalogue's codes (services/assignment/engine/exams.py), CT-heavy.
EXAM_SHARE = {
    "70450": 20,
    "71250": 8,
    "74177": 14,
    "74176": 4,
    "74178": 2,
    "71045": 12,
    "71046": 10,
    "70551": 5,
    "72148": 3,
    "73721": 2,
    "76700": 14,
    "77067": 6,
}
PRIORITY_SHARE = {"stat": 15, "asap": 5, "urgent": 20, "routine": 60}
STROKE_SHARE = 0.015  # of orders: a stroke head CT (STAT, the contract's stroke target)
REPEAT_PATIENT = 0.3  # of orders: a patient the facility sent before


@dataclass(frozen=True, slots=True)
class Shape:
    readers: int = 200
    facilities: int = 40
    cap: int = 150  # maxOpenTasks of most readers
    tight_cap: int = 10  # of a share of them, so that caps bind during the run
    tight_share: float = 0.1
    seed: int = 1


@dataclass(slots=True)
class World:
    shape: Shape
    facilities: dict[str, str]  # facility id -> state
    caps: dict[str, int] = field(default_factory=dict)  # membership role id -> maxOpenTasks
    names: dict[str, str] = field(default_factory=dict)  # membership role id -> family name
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Patient/<id>" -> it
    _by_facility: dict[str, list[str]] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random)


def make_world(shape: Shape) -> World:
    """Facilities spread over the states (not yet written)."""
    facilities = {f"fac-{n:03d}": STATES[n % len(STATES)] for n in range(shape.facilities)}
    return World(shape, facilities, _rng=random.Random(shape.seed))


def _pick(rng: random.Random, shares: dict[str, int]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _reader_entries(world: World, n: int) -> tuple[list[dict[str, Any]], int]:
    """A radiologist's resources (Practitioner, membership role, privilege roles) and cap."""
    rng = world._rng
    states = rng.sample(STATES, k=rng.randint(3, 7))
    practitioner = radiologist(*(licence(s) for s in states), family=f"Reader{n:03d}")
    own = "urn:uuid:" + f"{n:08d}-0000-4000-8000-000000000000"
    sub = _pick(rng, SUBSPECIALTY_SHARE)
    modalities = ["CT", "DX"] + [m for m, p in (("MR", 0.7), ("US", 0.6)) if rng.random() < p]
    if sub == "breast":
        modalities.append("MG")
    cap = world.shape.tight_cap if rng.random() < world.shape.tight_share else world.shape.cap
    role = membership(
        own,
        GROUP,
        zone="UTC",
        shifts=[shift(ALL_DAYS, None, None, allDay=True)],
        extensions=[*(read_modality(m) for m in modalities), capacity(tasks=cap)],
        specialty=[subspecialty(sub)],
    )
    privileges = [
        facility_role(own, f"Organization/{facility}")
        for facility, state in world.facilities.items()
        if state in states and rng.random() < 0.6
    ]
    entries: list[dict[str, Any]] = [{"fullUrl": own, "resource": practitioner}]
    entries.append({"resource": role})
    entries += [{"resource": p} for p in privileges]
    return entries, cap


def _transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    for entry in entries:
        entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    if response.status_code not in (200, 201):
        raise SystemExit(f"roster write {path}: {response.status_code} {response.text[:400]}")
    answer: dict[str, Any] = response.json()
    return answer


async def write_roster(client: httpx.AsyncClient, world: World) -> dict[str, int]:
    """Every radiologist and contract, through the API; returns resource counts."""
    counts = {"Practitioner": 0, "PractitionerRole": 0, "OrganizationAffiliation": 0}
    gate = asyncio.Semaphore(4)

    async def one_reader(n: int, entries: list[dict[str, Any]], cap: int) -> None:
        async with gate:
            answer = await _post(client, "/", _transaction(entries))
        location = answer["entry"][1]["response"]["location"]  # the membership role
        role_id = location.split("/")[1]
        world.caps[role_id] = cap
        world.names[role_id] = f"Reader{n:03d}"
        counts["Practitioner"] += 1
        counts["PractitionerRole"] += len(entries) - 1

    made = [(n, *_reader_entries(world, n)) for n in range(world.shape.readers)]
    await asyncio.gather(*(one_reader(n, entries, cap) for n, entries, cap in made))
    for facility in world.facilities:
        targets = [
            sla_target("stat", 60),
            sla_target(codes.STROKE, 45),
            sla_target("urgent", 4, "h"),
        ]
        primary = contract(f"Organization/{facility}", GROUP, extensions=targets)
        overflow = contract(
            f"Organization/{facility}",
            VENDOR,
            kind=codes.OVERFLOW,
            extensions=[sla_target("stat", 90)],
        )
        for affiliation in (primary, overflow):
            await _post(client, "/OrganizationAffiliation", affiliation)
            counts["OrganizationAffiliation"] += 1
    return counts


def _patient(world: World, facility: str) -> str:
    rng = world._rng
    known = world._by_facility.setdefault(facility, [])
    if known and rng.random() < REPEAT_PATIENT:
        return rng.choice(known)
    reference = f"Patient/pt-{len(world.patients):06d}"
    world.patients[reference] = {
        "resourceType": "Patient",
        "id": reference.split("/")[1],
        "address": [{"use": "home", "state": world.facilities[facility]}],
    }
    known.append(reference)
    return reference


def make_orders(world: World, prefix: str, n: int) -> list[dict[str, Any]]:
    """`n` new orders (ServiceRequests as intake stores them and its event carries them),
    registered now, over the facilities with the mix above."""
    rng = world._rng
    registered = format_instant(now_utc())
    orders = []
    for i in range(n):
        facility = rng.choice(list(world.facilities))
        stroke = rng.random() < STROKE_SHARE
        order: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": f"{prefix}-{i:05d}",
            "meta": {"versionId": "1", "lastUpdated": registered},
            "status": "active",
            "intent": "order",
            "priority": "stat" if stroke else _pick(rng, PRIORITY_SHARE),
            "code": {
                "coding": [
                    {
                        "system": codes.CPT_SYSTEM,
                        "code": "70450" if stroke else _pick(rng, EXAM_SHARE),
                    }
                ]
            },
            "subject": {"reference": _patient(world, facility)},
            "requester": {"reference": f"Organization/{facility}"},
        }
        if stroke:
            code = sorted(STROKE_CODES)[0]
            order["reasonCode"] = [{"coding": [{"system": SNOMED, "code": code}]}]
        orders.append(order)
    return orders
