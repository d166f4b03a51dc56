"""A critical result's follow-up Task: assignment keeps it for reporting (the platform),
shows it to the ordering facility and to its owner, never routes it as a read, and takes
it only from the platform, once per loop."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from services.assignment.sweeper import sweep
from services.assignment.tables import read_work
from services.assignment.tasks import READ_TASK_SYSTEM
from shared.auth import Principal
from shared.follow_up import CRITICAL_FOLLOW_UP, FOLLOW_UP_TASK_SYSTEM, TASK_KIND_SYSTEM
from shared.orders import ORDERING_FACILITY_EXTENSION
from tests.support.rest import create
from tests.support.tenants import as_caller, facility_ehr, radiologist

FACILITY = "Organization/facility-1"
OPERATIONS = Principal(client_id="ops", scopes=frozenset({"system/*.cruds"}), role="admin")


async def a_radiologist(client: httpx.AsyncClient) -> str:
    practitioner = await create(
        client, {"resourceType": "Practitioner", "active": True, "name": [{"family": "Osei"}]}
    )
    return f"Practitioner/{practitioner['id']}"


def follow_up(
    communication: str = "comm-1", *, requester: str = "Practitioner/reader-1", **changes: Any
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": FOLLOW_UP_TASK_SYSTEM, "value": communication}],
        "status": "requested",
        "intent": "order",
        "priority": "stat",
        "code": {"coding": [{"system": TASK_KIND_SYSTEM, "code": CRITICAL_FOLLOW_UP}]},
        "focus": {"reference": f"Communication/{communication}"},
        "for": {"reference": "Patient/patient-1"},
        "requester": {"reference": requester},
        "owner": {"reference": FACILITY},
        "restriction": {"period": {"end": "2026-01-01T00:15:00.000Z"}},
        "extension": [
            {"url": ORDERING_FACILITY_EXTENSION, "valueReference": {"reference": FACILITY}}
        ],
    }
    return task | changes


async def test_the_platform_makes_one_follow_up_per_loop_kept_out_of_read_work(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    reader = await a_radiologist(assignment)
    first = await assignment.post("/Task", json=follow_up(requester=reader))
    again = await assignment.post("/Task", json=follow_up(requester=reader))

    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert await sweep(assignment_app.state) == 0
    async with assignment_app.state.database.transaction() as session:
        rows = (await session.execute(select(func.count()).select_from(read_work))).scalar()
    assert rows == 0


async def test_the_ordering_facility_and_the_owner_see_the_follow_up_and_others_do_not(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    reader = await a_radiologist(assignment)
    task = await create(assignment, follow_up(requester=reader))

    for principal, status in [
        (facility_ehr(FACILITY), 200),
        (radiologist(reader), 200),
        (facility_ehr("Organization/elsewhere"), 404),
    ]:
        async with as_caller(assignment_app, principal) as caller:
            response = await caller.get(f"/Task/{task['id']}")
        assert response.status_code == status, (principal.role, response.text)


@pytest.mark.parametrize(
    ("changes", "expression"),
    [
        ({"focus": {"reference": "ServiceRequest/order-1"}}, "Task.focus"),
        ({"identifier": [{"system": READ_TASK_SYSTEM, "value": "order-1"}]}, "Task.identifier"),
        ({"identifier": []}, "Task.identifier"),
    ],
    ids=["focus-not-a-communication", "read-identifier", "no-identifier"],
)
async def test_a_follow_up_that_is_not_one_is_refused(
    assignment: httpx.AsyncClient, changes: dict[str, Any], expression: str
) -> None:
    reader = await a_radiologist(assignment)
    response = await assignment.post("/Task", json=follow_up(requester=reader, **changes))

    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"] == [expression]


async def test_only_the_platform_changes_a_follow_up(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    reader = await a_radiologist(assignment)
    task = await create(assignment, follow_up(requester=reader))

    for principal in (OPERATIONS, radiologist(reader)):
        async with as_caller(assignment_app, principal) as caller:
            response = await caller.put(f"/Task/{task['id']}", json={**task, "status": "completed"})
        assert response.status_code == 403, response.text
    done = await assignment.put(f"/Task/{task['id']}", json={**task, "status": "completed"})
    assert done.status_code == 200, done.text
    read = {
        **task,
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
    }
    turned = await assignment.put(f"/Task/{task['id']}", json=read)
    assert turned.status_code == 422 and "Task.code" in turned.text
