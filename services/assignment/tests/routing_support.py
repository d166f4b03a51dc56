"""A small roster for routing tests, written through the assignment API: readers of one
reading group at one facility (licensed in TX, on shift around the clock in UTC unless
told), their contract, and the handlers run as the consumer runs them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from services.assignment import codes
from services.assignment.consumers import CONSUMPTIONS, assign_order
from services.assignment.tasks import BUSINESS_STATUS_SYSTEM
from services.assignment.tests.builders import facility_role, licence, patient_in, radiologist
from services.assignment.tests.roster_builders import (
    capacity,
    contract,
    membership,
    read_modality,
    shift,
    sla_target,
)
from shared.events.consumer import Handler
from shared.fhir.service import format_instant, now_utc
from tests.support.consumers import deliver_event
from tests.support.rest import create
from tests.support.tenants import as_caller
from tests.support.tenants import radiologist as radiologist_caller

FACILITY = "Organization/facility-1"
GROUP = "Organization/meridian"
VENDOR = "Organization/nightwatch"
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
AROUND_THE_CLOCK = [shift(ALL_DAYS, None, None, allDay=True)]


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
    consumption = next(c for c in CONSUMPTIONS if c.handler is handler)
    await deliver_event(app, consumption, resource, intake or FakeIntake(patient_in("TX")))


async def add_reader(
    client: httpx.AsyncClient,
    *,
    family: str = "Okafor",
    states: tuple[str, ...] = ("TX",),
    facility: str | None = FACILITY,
    group: str = GROUP,
    modalities: tuple[str, ...] = ("CT", "MR", "DX", "US"),
    shifts: list[dict[str, Any]] | None = None,
    max_open_tasks: int | None = None,
    **role: Any,
) -> tuple[str, str]:
    """A reader on the roster: (PractitionerRole reference, Practitioner reference)."""
    practitioner = await create(client, radiologist(*(licence(s) for s in states), family=family))
    reference = f"Practitioner/{practitioner['id']}"
    if facility:
        await create(client, facility_role(reference, facility))
    extensions = [read_modality(m) for m in modalities]
    if max_open_tasks is not None:
        extensions.append(capacity(tasks=max_open_tasks))
    stored = await create(
        client,
        membership(
            reference,
            group,
            zone="UTC",
            shifts=AROUND_THE_CLOCK if shifts is None else shifts,
            extensions=extensions,
            **role,
        ),
    )
    return f"PractitionerRole/{stored['id']}", reference


async def add_contract(
    client: httpx.AsyncClient,
    *,
    facility: str = FACILITY,
    group: str = GROUP,
    kind: str = codes.PRIMARY,
    stat_minutes: int = 30,
) -> dict[str, Any]:
    return await create(
        client,
        contract(facility, group, kind=kind, extensions=[sla_target("stat", stat_minutes)]),
    )


def new_order(
    order_id: str,
    *,
    priority: str = "routine",
    facility: str | None = FACILITY,
    cpt: str = "70450",
    patient: str = "Patient/patient-1",
    registered: datetime | None = None,
) -> dict[str, Any]:
    """A ServiceRequest as intake stored it and its event carries it."""
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "meta": {"versionId": "1", "lastUpdated": format_instant(registered or now_utc())},
        "status": "active",
        "intent": "order",
        "priority": priority,
        "code": {"coding": [{"system": codes.CPT_SYSTEM, "code": cpt}]},
        "subject": {"reference": patient},
    }
    if facility:
        order["requester"] = {"reference": facility}
    return order


async def read_tasks(client: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    response = await client.get("/Task", params={"focus": f"ServiceRequest/{order_id}"})
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry") or []]


async def the_task(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    (task,) = await read_tasks(client, order_id)
    return task


def owner(task: dict[str, Any]) -> str | None:
    return (task.get("owner") or {}).get("reference")


def business_code(task: dict[str, Any]) -> str:
    coding = task["businessStatus"]["coding"][0]
    assert coding["system"] == BUSINESS_STATUS_SYSTEM
    return str(coding["code"])


async def busy_reader_with_a_queued_read(
    app: FastAPI, client: httpx.AsyncClient
) -> tuple[str, dict[str, Any]]:
    """A lone reader reading one CT and holding a second one unstarted: (reader, the
    queued read's Task)."""
    await add_contract(client)
    busy, practitioner = await add_reader(client, family="Busy")
    await deliver(app, assign_order, new_order("order-1"))
    await deliver(app, assign_order, new_order("order-2"))
    reading = await the_task(client, "order-1")
    async with as_caller(app, radiologist_caller(practitioner)) as caller:
        for status in ("accepted", "in-progress"):
            response = await caller.put(
                f"/Task/{reading['id']}", json={**reading, "status": status}
            )
            assert response.status_code == 200, response.text
            reading = response.json()
    return busy, await the_task(client, "order-2")
