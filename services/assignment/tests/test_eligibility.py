"""`$eligibility`: every reader of the roster for one order, eligible or not, each failed
hard constraint by its code and in words, and what the engine would choose -- changing
nothing; asked by operations, the platform or the order's own facility only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment.eligibility import CONSTRAINT_SYSTEM
from services.assignment.tests.builders import patient_in
from services.assignment.tests.routing_support import FACILITY, add_contract, add_reader, new_order
from shared.auth import Principal
from tests.support.rest import count
from tests.support.tenants import as_caller, facility_ehr, partner_vendor

OPERATIONS = Principal(client_id="ops", scopes=frozenset({"system/*.cruds"}), role="admin")


class FakeIntake:
    """Intake as the operation asks it: the order, its patient, and whether the caller may
    read the order."""

    def __init__(self, order: dict[str, Any], *, readable: bool = True) -> None:
        self.resources = {
            f"ServiceRequest/{order['id']}": order,
            "Patient/patient-1": patient_in("TX"),
        }
        self.readable = readable

    async def read(self, service: str, reference: str) -> dict[str, Any] | None:
        return self.resources.get(reference)

    async def readable_by(self, service: str, reference: str, authorization: str) -> bool:
        return self.readable and reference in self.resources

    async def aclose(self) -> None:
        """As the app closes its peers at shutdown."""


def _parts(parameter: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in parameter.get("part", []) if p["name"] == name]


def _named(parameters: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in parameters["parameter"] if p["name"] == name]


@pytest.fixture
async def roster(assignment: httpx.AsyncClient) -> dict[str, str]:
    await add_contract(assignment)
    return {
        "eligible": (await add_reader(assignment, family="Eligible"))[0],
        "unlicensed": (await add_reader(assignment, family="Unlicensed", states=("CA",)))[0],
        "no-mr": (await add_reader(assignment, family="NoMR", modalities=("MR",), states=("CA",)))[
            0
        ],
    }


async def test_every_reader_is_listed_with_each_failed_constraint_and_the_choice(
    assignment_app: FastAPI, assignment: httpx.AsyncClient, roster: dict[str, str]
) -> None:
    assignment_app.state.peers = FakeIntake(new_order("order-1", priority="stat"))

    async with as_caller(assignment_app, OPERATIONS) as ops:
        response = await ops.get("/$eligibility", params={"order": "ServiceRequest/order-1"})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert _named(answer, "outcome")[0]["valueCode"] == "assigned"
    (chosen,) = _named(answer, "chosen")
    assert _parts(chosen, "reader")[0]["valueReference"]["reference"] == roster["eligible"]
    assert {t["part"][0]["valueCode"] for t in _parts(chosen, "term")} >= {"lateness", "balance"}
    candidates = {
        _parts(c, "reader")[0]["valueReference"]["reference"]: c
        for c in _named(answer, "candidate")
    }
    assert set(candidates) == set(roster.values())
    assert _parts(candidates[roster["eligible"]], "eligible")[0]["valueBoolean"] is True
    failed = {
        reader: {f["part"][0]["valueCoding"]["code"] for f in _parts(c, "failure")}
        for reader, c in candidates.items()
    }
    assert failed[roster["unlicensed"]] == {"licence"}
    assert failed[roster["no-mr"]] == {"licence", "modality"}
    failure = _parts(candidates[roster["unlicensed"]], "failure")[0]
    assert failure["part"][0]["valueCoding"]["system"] == CONSTRAINT_SYSTEM
    assert "TX" in failure["part"][1]["valueString"]
    assert await count(assignment, "Task") == 0  # asking changes nothing


async def test_the_ordering_facility_may_ask_and_another_tenant_hears_of_no_such_order(
    assignment_app: FastAPI, roster: dict[str, str]
) -> None:
    order = new_order("order-1")
    assignment_app.state.peers = FakeIntake(order)
    async with as_caller(assignment_app, facility_ehr(FACILITY)) as own:
        mine = await own.get("/$eligibility", params={"order": "ServiceRequest/order-1"})
    assignment_app.state.peers = FakeIntake(order, readable=False)
    async with as_caller(assignment_app, facility_ehr("Organization/other")) as other:
        theirs = await other.get("/$eligibility", params={"order": "ServiceRequest/order-1"})

    assert mine.status_code == 200, mine.text
    assert theirs.status_code == 404
    assert theirs.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("principal", "order", "status"),
    [
        (partner_vendor("Organization/nightwatch"), "ServiceRequest/order-1", 403),
        (OPERATIONS, "Patient/patient-1", 400),
        (OPERATIONS, "ServiceRequest/unknown", 404),
    ],
    ids=["vendor", "not-an-order", "unknown-order"],
)
async def test_who_may_not_ask_and_what_is_not_an_order(
    assignment_app: FastAPI, principal: Principal, order: str, status: int
) -> None:
    assignment_app.state.peers = FakeIntake(new_order("order-1"))

    async with as_caller(assignment_app, principal) as caller:
        response = await caller.get("/$eligibility", params={"order": order})

    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
