"""Every new order gets one read Task, routed by the engine to a reader who passes every
hard constraint, with the contract's deadline; with nobody eligible it waits unassigned
and says why, or goes to a partner vendor whose overflow contract covers it. Each decision
is recorded for audit.

The assignment app runs in-process on the test's database; its roster is written through
its REST API; the handlers run as the consumer runs them. Intake is a small fake.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.assignment.consumers import assign_order, cancel_read, complete_read
from services.assignment.tasks import READ_TASK_SYSTEM
from services.assignment.tests.builders import patient_in
from services.assignment.tests.roster_builders import shift
from services.assignment.tests.routing_support import (
    FACILITY,
    VENDOR,
    FakeIntake,
    add_contract,
    add_reader,
    business_code,
    deliver,
    new_order,
    owner,
    read_tasks,
    the_task,
)
from shared.orders import READ_CONTRACT_EXTENSION
from tests.support.audit import audit_events


def _tomorrow() -> str:
    """Tomorrow's day code (UTC): a shift on it is not on now."""
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(datetime.now(UTC).weekday() + 1) % 7]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_contract(task: dict[str, Any]) -> str | None:
    """The contract the read Task says it runs under (read-contract)."""
    return next(
        (
            e["valueReference"]["reference"]
            for e in task.get("extension") or []
            if e["url"] == READ_CONTRACT_EXTENSION
        ),
        None,
    )


async def test_the_order_goes_to_the_reader_who_passes_every_hard_constraint(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    primary = await add_contract(assignment, stat_minutes=30)
    eligible, _ = await add_reader(assignment, family="Eligible")
    await add_reader(assignment, family="Unlicensed", states=("CA",))
    await add_reader(assignment, family="Unprivileged", facility="Organization/elsewhere")
    await add_reader(assignment, family="NoCT", modalities=("MR",))
    await add_reader(
        assignment, family="OffShift", shifts=[shift([_tomorrow()], "00:00:00", "23:00:00")]
    )
    await add_reader(assignment, family="Uncontracted", group="Organization/other-group")
    order = new_order("order-1", priority="stat")

    await deliver(assignment_app, assign_order, order)

    task = await the_task(assignment, "order-1")
    assert owner(task) == eligible
    assert task["status"] == "requested"
    assert business_code(task) == "assigned"
    assert task["identifier"] == [{"system": READ_TASK_SYSTEM, "value": "order-1"}]
    assert task["requester"] == {"reference": FACILITY}
    assert read_contract(task) == f"OrganizationAffiliation/{primary['id']}"
    deadline = _instant(task["restriction"]["period"]["end"])
    assert deadline - _instant(order["meta"]["lastUpdated"]) == timedelta(minutes=30)


async def test_each_decision_is_recorded_with_every_candidate_for_audit(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    eligible, _ = await add_reader(assignment, family="Eligible")
    await add_reader(assignment, family="Unlicensed", states=("CA",))

    await deliver(assignment_app, assign_order, new_order("order-1"))

    task = await the_task(assignment, "order-1")
    events = [
        e
        for e in await audit_events(assignment_app, ("entity", f"Task/{task['id']}"))
        if e["type"]["code"] == "decision"
    ]
    (event,) = events
    assert event["subtype"][0]["code"] == "assigned"
    referenced = [e["what"]["reference"] for e in event["entity"]]
    assert "ServiceRequest/order-1" in referenced and eligible in referenced
    assert "PHI" not in event["outcomeDesc"]


async def test_with_nobody_eligible_the_task_waits_unassigned_and_says_why(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment, states=("CA",))

    await deliver(assignment_app, assign_order, new_order("order-1"))

    task = await the_task(assignment, "order-1")
    assert owner(task) is None
    assert task["status"] == "requested"
    assert business_code(task) == "unassigned"
    assert "TX" in task["statusReason"]["text"]
    assert read_contract(task) is None


async def test_with_nobody_eligible_a_vendor_with_an_overflow_contract_takes_it(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    overflow = await add_contract(assignment, group=VENDOR, kind="overflow")
    await add_reader(assignment, states=("CA",))

    await deliver(assignment_app, assign_order, new_order("order-1"))

    task = await the_task(assignment, "order-1")
    assert owner(task) == VENDOR
    assert business_code(task) == "overflow"
    assert read_contract(task) == f"OrganizationAffiliation/{overflow['id']}"


async def test_a_redelivered_order_makes_no_second_task(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment)
    order = new_order("order-1")

    await deliver(assignment_app, assign_order, order)
    await deliver(assignment_app, assign_order, order)

    assert len(await read_tasks(assignment, "order-1")) == 1


async def test_open_work_counts_so_equal_readers_share_the_orders(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    first, _ = await add_reader(assignment, family="First")
    second, _ = await add_reader(assignment, family="Second")

    patients = FakeIntake(*({**patient_in("TX"), "id": f"patient-{n}"} for n in (1, 2)))
    for n in (1, 2):  # two patients: one patient's studies would stay with one reader
        order = new_order(f"order-{n}", patient=f"Patient/patient-{n}")
        await deliver(assignment_app, assign_order, order, patients)

    owners = {owner(await the_task(assignment, f"order-{n}")) for n in (1, 2)}
    assert owners == {first, second}


async def test_a_reader_at_capacity_gets_no_routine_work_but_stat_goes_over(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    only, _ = await add_reader(assignment, max_open_tasks=1)
    await deliver(assignment_app, assign_order, new_order("order-1"))

    await deliver(assignment_app, assign_order, new_order("order-2"))
    await deliver(assignment_app, assign_order, new_order("order-3", priority="stat"))

    assert owner(await the_task(assignment, "order-1")) == only
    waiting = await the_task(assignment, "order-2")
    assert owner(waiting) is None and "capacity" in waiting["statusReason"]["text"].lower()
    assert owner(await the_task(assignment, "order-3")) == only


async def test_between_equally_placed_readers_one_patients_studies_stay_together(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment, family="First")
    await add_reader(assignment, family="Second")
    patients = FakeIntake(*({**patient_in("TX"), "id": f"patient-{n}"} for n in (1, 2)))
    orders = [("order-1", 1), ("order-2", 2), ("order-3", 1)]  # each reader gets one first

    for order_id, patient in orders:
        order = new_order(order_id, patient=f"Patient/patient-{patient}")
        await deliver(assignment_app, assign_order, order, patients)

    first, second, third = [owner(await the_task(assignment, o)) for o, _ in orders]
    assert first != second  # the work was shared...
    assert third == first  # ...and the patient's second study joined the first


async def test_a_final_report_completes_the_read_and_frees_the_reader(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    only, _ = await add_reader(assignment, max_open_tasks=1)
    await deliver(assignment_app, assign_order, new_order("order-1"))
    report = {
        "resourceType": "DiagnosticReport",
        "id": "report-1",
        "status": "final",
        "basedOn": [{"reference": "ServiceRequest/order-1"}],
    }

    await deliver(assignment_app, complete_read, report)
    await deliver(assignment_app, assign_order, new_order("order-2"))

    done = await the_task(assignment, "order-1")
    assert done["status"] == "completed"
    assert done["output"][0]["valueReference"] == {"reference": "DiagnosticReport/report-1"}
    assert owner(await the_task(assignment, "order-2")) == only


async def test_a_revoked_order_cancels_its_read_and_a_finished_read_stays_finished(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment)
    order = new_order("order-1")
    await deliver(assignment_app, assign_order, order)

    await deliver(assignment_app, cancel_read, {**order, "status": "revoked"})
    task = await the_task(assignment, "order-1")
    reopened = await assignment.put(f"/Task/{task['id']}", json={**task, "status": "requested"})

    assert task["status"] == "cancelled"
    assert business_code(task) == "order-revoked"
    assert reopened.status_code == 422


async def test_an_order_with_an_unknown_patient_state_waits_with_the_reason(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment)

    await deliver(assignment_app, assign_order, new_order("order-1"), FakeIntake())

    task = await the_task(assignment, "order-1")
    assert business_code(task) == "unassigned"
    assert task["statusReason"]["text"]


async def test_shifts_are_hard_a_reader_off_shift_now_is_not_chosen(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    await add_contract(assignment)
    await add_reader(assignment, shifts=[shift([_tomorrow()], "00:00:00", "23:00:00")])

    await deliver(assignment_app, assign_order, new_order("order-1"), FakeIntake(patient_in("TX")))

    assert business_code(await the_task(assignment, "order-1")) == "unassigned"
