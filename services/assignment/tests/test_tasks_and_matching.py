"""Every new order gets one read Task, owned by a radiologist who may read it -- licensed
in the patient's state and privileged at the ordering facility -- choosing the one with
the least open work; with nobody eligible the Task waits unassigned and says why. A final
report completes the Task, a revoked order cancels it, and a finished read stays finished.

The assignment app runs in-process on the test's database (`assignment_app`, with its
client `assignment`, from conftest.py); its roster is written through its REST API. The handlers run as the consumer runs them (one transaction, the service's
own principal); the intake service they ask for the patient is a small fake.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.assignment.consumers import CONSUMPTIONS, assign_order, cancel_read, complete_read
from services.assignment.tasks import BUSINESS_STATUS_SYSTEM, READ_TASK_SYSTEM
from services.assignment.tests.builders import (
    facility_role,
    licence,
    patient_in,
    radiologist,
    registered_order,
)
from shared.events.consumer import Handler
from tests.support.consumers import deliver_event
from tests.support.rest import count, create, put, update

FACILITY = "Organization/facility-1"
OTHER_FACILITY = "Organization/facility-2"


class FakeIntake:
    """What assignment asks intake for: patients, by reference."""

    def __init__(self, *patients: dict[str, Any]) -> None:
        self.patients = {f"Patient/{p['id']}": p for p in patients}

    async def read(self, service: str, reference: str) -> dict[str, Any] | None:
        assert service == "intake"
        return self.patients.get(reference)


async def deliver(
    app: FastAPI, handler: Handler, resource: dict[str, Any], intake: FakeIntake | None = None
) -> None:
    """Run `handler` on an event carrying `resource`, in one transaction, as the consumer
    does."""
    consumption = next(c for c in CONSUMPTIONS if c.handler is handler)
    await deliver_event(app, consumption, resource, intake or FakeIntake(patient_in("TX")))


async def reader(
    client: httpx.AsyncClient, *states: str, facility: str = FACILITY, **role: Any
) -> str:
    """A radiologist licensed in `states` with a role at `facility`; the role's reference."""
    practitioner = await create(client, radiologist(*(licence(s) for s in states)))
    stored = await create(
        client, facility_role(f"Practitioner/{practitioner['id']}", facility, **role)
    )
    return f"PractitionerRole/{stored['id']}"


async def read_tasks(client: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    response = await client.get("/Task", params={"focus": f"ServiceRequest/{order_id}"})
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry") or []]


async def the_task(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    (task,) = await read_tasks(client, order_id)
    return task


def business_code(task: dict[str, Any]) -> str:
    coding = task["businessStatus"]["coding"][0]
    assert coding["system"] == BUSINESS_STATUS_SYSTEM
    return str(coding["code"])


def final_report(order_id: str, report_id: str = "report-1") -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": report_id,
        "status": "final",
        "basedOn": [{"reference": f"ServiceRequest/{order_id}"}],
    }


# -- choosing the reader ------------------------------------------------------------------


async def test_the_order_goes_to_the_radiologist_licensed_and_privileged_for_it(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    eligible = await reader(assignment, "TX", "OK")
    await reader(assignment, "CA")  # privileged, but not licensed in TX
    await reader(assignment, "TX", facility=OTHER_FACILITY)  # licensed, privileged elsewhere
    await reader(assignment, "TX", active=False)  # privileges withdrawn
    await reader(assignment, "TX", start="2020-01-01", end="2021-01-01")  # privileges ended
    order = registered_order("order-1", facility=FACILITY, priority="stat")

    await deliver(assignment_app, assign_order, order, FakeIntake(patient_in("TX")))

    task = await the_task(assignment, "order-1")
    assert task["owner"] == {"reference": eligible}
    assert task["status"] == "requested"
    assert business_code(task) == "assigned"
    assert task["identifier"] == [{"system": READ_TASK_SYSTEM, "value": "order-1"}]
    assert task["for"] == order["subject"]
    assert task["priority"] == "stat"
    deadline = datetime.fromisoformat(task["restriction"]["period"]["end"].replace("Z", "+00:00"))
    registered = datetime.fromisoformat(order["meta"]["lastUpdated"].replace("Z", "+00:00"))
    assert deadline - registered == timedelta(hours=1)  # stat


async def test_an_inactive_radiologist_is_not_chosen_even_with_privileges(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    practitioner = await create(assignment, radiologist(licence("TX"), active=False))
    await create(assignment, facility_role(f"Practitioner/{practitioner['id']}", FACILITY))

    await deliver(assignment_app, assign_order, registered_order("order-1", facility=FACILITY))

    task = await the_task(assignment, "order-1")
    assert "owner" not in task
    assert business_code(task) == "unassigned"


async def test_the_eligible_radiologist_with_least_open_work_gets_the_order(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    first, second = sorted([await reader(assignment, "TX"), await reader(assignment, "TX")])

    await deliver(assignment_app, assign_order, registered_order("order-1", facility=FACILITY))
    await deliver(assignment_app, assign_order, registered_order("order-2", facility=FACILITY))
    await deliver(assignment_app, assign_order, registered_order("order-3", facility=FACILITY))

    owners = [(await the_task(assignment, f"order-{n}"))["owner"]["reference"] for n in (1, 2, 3)]
    assert owners == [first, second, first]  # equal load: the lower id, for reproducibility


async def test_finished_reads_do_not_count_as_open_work(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    first, second = sorted([await reader(assignment, "TX"), await reader(assignment, "TX")])
    await deliver(assignment_app, assign_order, registered_order("order-1", facility=FACILITY))
    await deliver(assignment_app, complete_read, final_report("order-1"))
    await deliver(assignment_app, assign_order, registered_order("order-2", facility=FACILITY))

    await deliver(assignment_app, assign_order, registered_order("order-3", facility=FACILITY))

    assert (await the_task(assignment, "order-1"))["owner"]["reference"] == first
    assert (await the_task(assignment, "order-2"))["owner"]["reference"] == first
    assert (await the_task(assignment, "order-3"))["owner"]["reference"] == second


@pytest.mark.parametrize(
    ("order", "intake", "reason"),
    [
        (registered_order("order-1", facility=FACILITY), FakeIntake(patient_in("NM")), "NM"),
        (registered_order("order-1", facility=FACILITY), FakeIntake(), "state is unknown"),
        (registered_order("order-1", facility=None), FakeIntake(patient_in("TX")), "facility"),
    ],
    ids=["nobody-licensed-in-state", "patient-unknown", "no-ordering-facility"],
)
async def test_with_nobody_eligible_the_task_waits_unassigned_and_says_why(
    assignment_app: FastAPI,
    assignment: httpx.AsyncClient,
    order: dict[str, Any],
    intake: FakeIntake,
    reason: str,
) -> None:
    await reader(assignment, "TX")

    await deliver(assignment_app, assign_order, order, intake)

    task = await the_task(assignment, "order-1")
    assert "owner" not in task
    assert task["status"] == "requested"
    assert business_code(task) == "unassigned"
    assert reason in task["statusReason"]["text"]


# -- exactly one Task per order -----------------------------------------------------------


async def test_a_redelivered_order_makes_no_second_task_and_keeps_its_owner(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    first = await reader(assignment, "TX")
    order = registered_order("order-1", facility=FACILITY)
    await deliver(assignment_app, assign_order, order)
    await reader(assignment, "TX")  # the roster changes before the order comes again

    await deliver(assignment_app, assign_order, order)

    task = await the_task(assignment, "order-1")
    assert task["owner"]["reference"] == first
    assert task["meta"]["versionId"] == "1"


async def test_the_same_order_handled_twice_at_once_makes_one_task(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await reader(assignment, "TX")
    order = registered_order("order-1", facility=FACILITY)

    await asyncio.gather(*(deliver(assignment_app, assign_order, order) for _ in range(3)))

    assert len(await read_tasks(assignment, "order-1")) == 1


async def test_a_second_task_with_the_same_read_identifier_is_the_first_one(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await deliver(assignment_app, assign_order, registered_order("order-1", facility=FACILITY))
    task = await the_task(assignment, "order-1")
    duplicate = {k: v for k, v in task.items() if k not in ("id", "meta")}

    response = await assignment.post("/Task", json=duplicate)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == task["id"]
    assert await count(assignment, "Task") == 1


# -- finishing the read -------------------------------------------------------------------


async def test_a_final_report_completes_the_read_once(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await reader(assignment, "TX")
    await deliver(assignment_app, assign_order, registered_order("order-1", facility=FACILITY))

    await deliver(assignment_app, complete_read, final_report("order-1", "report-9"))
    await deliver(assignment_app, complete_read, final_report("order-1", "report-9"))

    task = await the_task(assignment, "order-1")
    assert task["status"] == "completed"
    assert business_code(task) == "reported"
    assert task["output"][0]["valueReference"] == {"reference": "DiagnosticReport/report-9"}
    assert task["meta"]["versionId"] == "2"  # the repeat wrote nothing


async def test_a_report_on_an_order_without_a_task_changes_nothing(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await deliver(assignment_app, complete_read, final_report("order-without-task"))

    assert await count(assignment, "Task") == 0


async def test_a_revoked_order_cancels_its_open_read(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    order = registered_order("order-1", facility=FACILITY)
    await deliver(assignment_app, assign_order, order)

    await deliver(assignment_app, cancel_read, {**order, "status": "revoked"})

    task = await the_task(assignment, "order-1")
    assert task["status"] == "cancelled"
    assert business_code(task) == "order-revoked"


async def test_revoking_an_order_already_reported_leaves_the_read_completed(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await reader(assignment, "TX")
    order = registered_order("order-1", facility=FACILITY)
    await deliver(assignment_app, assign_order, order)
    await deliver(assignment_app, complete_read, final_report("order-1"))

    await deliver(assignment_app, cancel_read, {**order, "status": "revoked"})

    assert (await the_task(assignment, "order-1"))["status"] == "completed"


@pytest.mark.parametrize("closed", ["completed", "cancelled", "rejected", "failed"])
async def test_a_closed_task_cannot_be_reopened(
    assignment_app: FastAPI, assignment: httpx.AsyncClient, closed: str
) -> None:
    await deliver(assignment_app, assign_order, registered_order("order-1", facility=FACILITY))
    task = await update(assignment, {**await the_task(assignment, "order-1"), "status": closed})

    response = await put(assignment, {**task, "status": "in-progress"})

    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"] == ["Task.status"]
    assert (await the_task(assignment, "order-1"))["status"] == closed


async def test_a_closed_task_can_still_be_marked_entered_in_error(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await deliver(assignment_app, assign_order, registered_order("order-1", facility=FACILITY))
    task = await update(
        assignment, {**await the_task(assignment, "order-1"), "status": "completed"}
    )

    corrected = await update(assignment, {**task, "status": "entered-in-error"})

    assert corrected["status"] == "entered-in-error"


async def test_a_task_must_name_the_order_it_assigns(assignment: httpx.AsyncClient) -> None:
    task = {"resourceType": "Task", "status": "requested", "intent": "order"}

    response = await assignment.post("/Task", json=task)

    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"] == ["Task.focus"]
