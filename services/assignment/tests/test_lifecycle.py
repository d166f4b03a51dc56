"""The read Task's lifecycle as the reader drives it -- accept, decline with a reason,
start, hold, resume -- and what the service does without being asked: a declined read or
one not accepted in time goes to the next best reader (never back), unstarted work of a
reader gone unavailable moves, the unassigned queue is tried again. Hand-offs go only to
eligible readers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment.consumers import assign_order
from services.assignment.sweeper import sweep
from services.assignment.tests.routing_support import (
    VENDOR,
    add_contract,
    add_reader,
    business_code,
    deliver,
    new_order,
    owner,
    the_task,
)
from shared.auth import Principal
from shared.fhir.service import now_utc
from tests.support.rest import create
from tests.support.tenants import as_caller, partner_vendor, radiologist

OPERATIONS = Principal(client_id="ops", scopes=frozenset({"system/*.cruds"}), role="admin")


async def _routed(
    app: FastAPI, client: httpx.AsyncClient, order_id: str = "order-1"
) -> dict[str, Any]:
    await deliver(app, assign_order, new_order(order_id))
    return await the_task(client, order_id)


async def _put_as(app: FastAPI, principal: Principal, task: dict[str, Any]) -> httpx.Response:
    async with as_caller(app, principal) as caller:
        return await caller.put(f"/Task/{task['id']}", json=task)


async def test_the_reader_accepts_starts_holds_and_resumes_their_read(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    _, practitioner = await add_reader(assignment)
    task = await _routed(assignment_app, assignment)
    me = radiologist(practitioner)

    for status, business in [
        ("accepted", "accepted"),
        ("in-progress", "reading"),
        ("on-hold", "on-hold"),
        ("in-progress", "reading"),
    ]:
        response = await _put_as(assignment_app, me, {**task, "status": status})
        assert response.status_code == 200, response.text
        task = response.json()
        assert business_code(task) == business


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": "completed"}, "final report"),
        ({"status": "cancelled"}, "operations"),
        ({"priority": "stat", "status": "accepted"}, "priority"),
        ({"status": "rejected"}, "reason"),
    ],
    ids=["completes-without-report", "cancels", "changes-priority", "declines-without-reason"],
)
async def test_a_reader_cannot_make_moves_that_are_not_theirs(
    assignment_app: FastAPI, assignment: httpx.AsyncClient, change: dict[str, Any], why: str
) -> None:
    await add_contract(assignment)
    _, practitioner = await add_reader(assignment)
    task = await _routed(assignment_app, assignment)

    response = await _put_as(assignment_app, radiologist(practitioner), {**task, **change})

    assert response.status_code == 422, response.text
    assert why in response.text


async def test_a_declined_read_goes_to_the_next_best_reader_and_never_back(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    first = await add_reader(assignment, family="First")
    second = await add_reader(assignment, family="Second")
    task = await _routed(assignment_app, assignment)
    holder, other = (first, second) if owner(task) == first[0] else (second, first)

    declined = {**task, "status": "rejected", "statusReason": {"text": "Conflict of interest"}}
    response = await _put_as(assignment_app, radiologist(holder[1]), declined)
    assert response.status_code == 200, response.text
    await sweep(assignment_app.state)

    moved = await the_task(assignment, "order-1")
    assert owner(moved) == other[0]
    assert moved["status"] == "requested"
    assert business_code(moved) == "re-routed"
    # the other one declines too: nobody is left, the read waits rather than going back
    response = await _put_as(
        assignment_app,
        radiologist(other[1]),
        {**moved, "status": "rejected", "statusReason": {"text": "Not my field"}},
    )
    assert response.status_code == 200, response.text
    await sweep(assignment_app.state)
    waiting = await the_task(assignment, "order-1")
    assert owner(waiting) is None and business_code(waiting) == "unassigned"


async def test_a_read_not_accepted_in_time_goes_to_the_next_best(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment, family="First")
    await add_reader(assignment, family="Second")
    task = await _routed(assignment_app, assignment)

    await sweep(assignment_app.state, now=now_utc() + timedelta(minutes=5))
    assert owner(await the_task(assignment, "order-1")) == owner(task)  # still in time
    await sweep(assignment_app.state, now=now_utc() + timedelta(minutes=11))

    moved = await the_task(assignment, "order-1")
    assert owner(moved) not in (None, owner(task))
    assert "not accepted" in moved["businessStatus"]["text"]


async def test_unstarted_work_of_a_reader_who_becomes_unavailable_moves(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment, family="First")
    await add_reader(assignment, family="Second")
    task = await _routed(assignment_app, assignment)
    role = (await assignment.get(f"/{owner(task)}")).json()
    away = {"description": "Called away", "during": {"start": "2020-01-01T00:00:00Z"}}

    assert (
        await assignment.put(f"/{owner(task)}", json={**role, "notAvailable": [away]})
    ).status_code == 200
    await sweep(assignment_app.state)

    assert owner(await the_task(assignment, "order-1")) not in (None, owner(task))


async def test_the_unassigned_queue_is_tried_again_when_a_reader_appears(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await deliver(assignment_app, assign_order, new_order("order-1"))
    assert business_code(await the_task(assignment, "order-1")) == "unassigned"
    arrived, _ = await add_reader(assignment)

    await sweep(assignment_app.state)

    task = await the_task(assignment, "order-1")
    assert owner(task) == arrived
    assert business_code(task) == "re-routed"


async def test_a_read_nobody_can_take_is_not_rewritten_at_every_sweep(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await deliver(assignment_app, assign_order, new_order("order-1"))
    waiting = await the_task(assignment, "order-1")

    await sweep(assignment_app.state)
    await sweep(assignment_app.state)

    assert (await the_task(assignment, "order-1"))["meta"] == waiting["meta"]


async def test_a_lone_reader_who_has_not_accepted_yet_keeps_the_read(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    only, _ = await add_reader(assignment)
    task = await _routed(assignment_app, assignment)

    await sweep(assignment_app.state, now=now_utc() + timedelta(minutes=30))

    assert owner(await the_task(assignment, "order-1")) == only
    assert (await the_task(assignment, "order-1"))["meta"] == task["meta"]


async def test_operations_hand_a_read_only_to_an_eligible_reader(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment, family="First")
    unlicensed, _ = await add_reader(assignment, family="Unlicensed", states=("CA",))
    task = await _routed(assignment_app, assignment)
    eligible, _ = await add_reader(assignment, family="Later")

    refused = await _put_as(
        assignment_app, OPERATIONS, {**task, "owner": {"reference": unlicensed}}
    )
    handed = await _put_as(assignment_app, OPERATIONS, {**task, "owner": {"reference": eligible}})

    assert refused.status_code == 422 and "TX" in refused.text
    assert handed.status_code == 200, handed.text
    assert owner(await the_task(assignment, "order-1")) == eligible


async def test_a_vendor_hands_an_overflow_read_within_its_own_roster_only(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_contract(assignment, group=VENDOR, kind="overflow")
    task = await _routed(assignment_app, assignment)  # nobody of ours: the vendor's
    assert owner(task) == VENDOR
    theirs, _ = await add_reader(assignment, family="Vendor", group=VENDOR)
    ours, _ = await add_reader(assignment, family="Ours")
    vendor = partner_vendor(VENDOR)

    refused = await _put_as(assignment_app, vendor, {**task, "owner": {"reference": ours}})
    handed = await _put_as(assignment_app, vendor, {**task, "owner": {"reference": theirs}})

    assert refused.status_code == 422, refused.text
    assert handed.status_code == 200, handed.text
    async with as_caller(assignment_app, vendor) as caller:  # still the vendor's to see
        assert (await caller.get(f"/Task/{task['id']}")).status_code == 200


async def test_a_reader_worklist_is_their_own_sorted_by_deadline(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    role, practitioner = await add_reader(assignment)
    await add_reader(assignment, family="Other", states=("CA",))
    await deliver(assignment_app, assign_order, new_order("routine-1"))
    await deliver(assignment_app, assign_order, new_order("stat-1", priority="stat"))
    await create(
        assignment,
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "focus": {"reference": "ServiceRequest/other"},
        },
    )

    async with as_caller(assignment_app, radiologist(practitioner)) as caller:
        response = await caller.get(
            "/Task",
            params={"owner": role, "status": "requested,accepted,in-progress", "_sort": "deadline"},
        )

    assert response.status_code == 200, response.text
    focus = [e["resource"]["focus"]["reference"] for e in response.json()["entry"]]
    assert focus == ["ServiceRequest/stat-1", "ServiceRequest/routine-1"]
