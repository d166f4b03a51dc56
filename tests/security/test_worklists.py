"""At assignment: a radiologist's worklist is their own, a facility follows the reads of
its own orders without changing them, a vendor sees the Tasks assigned to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from services.assignment.tests.builders import facility_role, radiologist
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app
from tests.support.rest import create
from tests.support.tenants import as_caller, facility_ehr, partner_vendor
from tests.support.tenants import radiologist as radiologist_user

pytestmark = pytest.mark.asyncio

FACILITY_A, FACILITY_B = "Organization/alder", "Organization/birch"
VENDOR = "Organization/nightwatch"


@dataclass
class Roster:
    first: str  # Practitioner/<id>
    second: str
    mine: str  # Task/<id>: the first radiologist's read for facility A
    theirs: str  # the second radiologist's read for facility B
    vendors: str  # the vendor's read for facility A


def _task(order: str, facility: str, owner: str) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "focus": {"reference": f"ServiceRequest/{order}"},
        "requester": {"reference": facility},
        "owner": {"reference": owner},
    }


@pytest.fixture
async def assignment(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[FastAPI]:
    async with running_app("assignment", make_settings("assignment")) as app:
        yield app


@pytest.fixture
async def roster(assignment: FastAPI) -> Roster:
    async with client_for(assignment) as admin:
        first = await create(admin, radiologist(family="First"))
        second = await create(admin, radiologist(family="Second"))
        first_ref, second_ref = f"Practitioner/{first['id']}", f"Practitioner/{second['id']}"
        role_1 = await create(admin, facility_role(first_ref, FACILITY_A))
        role_2 = await create(admin, facility_role(second_ref, FACILITY_B))
        mine = await create(admin, _task("o1", FACILITY_A, f"PractitionerRole/{role_1['id']}"))
        theirs = await create(admin, _task("o2", FACILITY_B, f"PractitionerRole/{role_2['id']}"))
        vendors = await create(admin, _task("o3", FACILITY_A, VENDOR))
    return Roster(
        first_ref,
        second_ref,
        f"Task/{mine['id']}",
        f"Task/{theirs['id']}",
        f"Task/{vendors['id']}",
    )


def _ids(bundle: dict[str, Any]) -> set[str]:
    return {f"Task/{e['resource']['id']}" for e in bundle.get("entry", [])}


async def test_a_radiologist_sees_and_works_only_their_own_reads(
    assignment: FastAPI, roster: Roster
) -> None:
    async with as_caller(assignment, radiologist_user(roster.first)) as md:
        assert _ids((await md.get("/Task?status=requested")).json()) == {roster.mine}
        assert (await md.get(f"/{roster.theirs}")).status_code == 404
        assert (await md.get(f"/{roster.second}")).status_code == 404
        assert (await md.get(f"/{roster.first}")).status_code == 200
        task = (await md.get(f"/{roster.mine}")).json()
        accepted = await md.put(f"/{roster.mine}", json={**task, "status": "accepted"})
        assert accepted.status_code == 200, accepted.text
        handed_on = {**accepted.json(), "owner": {"reference": roster.second}}
        assert (await md.put(f"/{roster.mine}", json=handed_on)).status_code == 422


async def test_a_facility_follows_its_orders_reads_but_cannot_change_them(
    assignment: FastAPI, roster: Roster
) -> None:
    async with as_caller(assignment, facility_ehr(FACILITY_A)) as ehr:
        assert _ids((await ehr.get("/Task")).json()) == {roster.mine, roster.vendors}
        assert (await ehr.get(f"/{roster.theirs}")).status_code == 404
        task = (await ehr.get(f"/{roster.mine}")).json()
        assert (
            await ehr.put(f"/{roster.mine}", json={**task, "status": "cancelled"})
        ).status_code == 403


async def test_a_vendor_sees_only_the_reads_assigned_to_it(
    assignment: FastAPI, roster: Roster
) -> None:
    async with as_caller(assignment, partner_vendor(VENDOR)) as vendor:
        assert _ids((await vendor.get("/Task")).json()) == {roster.vendors}
        assert (await vendor.get(f"/{roster.mine}")).status_code == 404
        task = (await vendor.get(f"/{roster.vendors}")).json()
        accepted = await vendor.put(f"/{roster.vendors}", json={**task, "status": "accepted"})
        assert accepted.status_code == 200, accepted.text
