"""Partner vendors and radiologists see an order -- with its studies and patient -- only
while its read Task is assigned to them, and can change none of it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake.consumers import CONSUMPTIONS
from tests.security.conftest import Facility
from tests.security.test_facility_isolation import _ids
from tests.support.consumers import deliver_event
from tests.support.rest import create, searchset
from tests.support.tenants import as_caller, partner_vendor, radiologist

pytestmark = pytest.mark.asyncio

VENDOR = "Organization/vendor-nightwatch"
OTHER_VENDOR = "Organization/vendor-daybreak"


class FakeAssignment:
    """assignment's roster as intake asks for it: which Practitioner holds a role."""

    async def read(self, service: str, reference: str) -> dict[str, Any] | None:
        assert service == "assignment"
        role_id = reference.split("/", 1)[1]
        return {
            "resourceType": "PractitionerRole",
            "practitioner": {"reference": f"Practitioner/{role_id}-md"},
        }


async def _task_changed(app: FastAPI, task: dict[str, Any]) -> None:
    """Deliver a task-access-changed event for `task` to intake's handler."""
    await deliver_event(app, CONSUMPTIONS[0], task, FakeAssignment())


def _task(
    order: str, owner: str, status: str = "requested", task_id: str = "t-1"
) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": task_id,
        "status": status,
        "focus": {"reference": order},
        "owner": {"reference": owner},
    }


async def _visible(client: httpx.AsyncClient, *references: str) -> set[str]:
    return {ref for ref in references if (await client.get(f"/{ref}")).status_code == 200}


async def test_a_vendor_sees_the_order_study_and_patient_of_its_task_only_while_assigned(
    intake: FastAPI, two: tuple[Facility, Facility]
) -> None:
    a, b = two
    async with as_caller(intake, partner_vendor(VENDOR)) as vendor:
        everything = (a.order, a.patient, a.study, b.order, b.patient, b.study)
        assert await _visible(vendor, *everything) == set()
        await _task_changed(intake, _task(a.order, VENDOR))
        assert await _visible(vendor, *everything) == {a.order, a.patient, a.study}
        assert _ids(searchset(await vendor.get("/Patient"))) == {a.patient}
        assert (await vendor.get(f"/{a.organization}")).status_code == 404
        await _task_changed(intake, _task(a.order, VENDOR, status="cancelled"))
        assert await _visible(vendor, *everything) == set()


async def test_a_reassigned_read_moves_the_order_from_one_radiologist_to_the_next(
    intake: FastAPI, two: tuple[Facility, Facility]
) -> None:
    a, _ = two
    first = radiologist("Practitioner/role-1-md")
    second = radiologist("Practitioner/role-2-md")
    async with as_caller(intake, first) as one, as_caller(intake, second) as two_md:
        await _task_changed(intake, _task(a.order, "PractitionerRole/role-1"))
        assert await _visible(one, a.order, a.patient) == {a.order, a.patient}
        assert await _visible(two_md, a.order) == set()
        await _task_changed(intake, _task(a.order, "PractitionerRole/role-2"))
        assert await _visible(one, a.order, a.patient) == set()
        assert await _visible(two_md, a.order, a.patient) == {a.order, a.patient}


async def test_a_vendor_given_an_order_still_cannot_change_it_or_another_vendor_see_it(
    intake: FastAPI, two: tuple[Facility, Facility]
) -> None:
    a, _ = two
    await _task_changed(intake, _task(a.order, VENDOR))
    async with (
        as_caller(intake, partner_vendor(VENDOR)) as vendor,
        as_caller(intake, partner_vendor(OTHER_VENDOR)) as other,
    ):
        stored = (await vendor.get(f"/{a.order}")).json()
        changed = await vendor.put(f"/{a.order}", json={**stored, "status": "revoked"})
        assert changed.status_code == 403  # the role ceiling: readers never edit orders
        assert (await a.client.get(f"/{a.order}")).json()["status"] == "active"
        assert (await other.get(f"/{a.order}")).status_code == 404


async def test_readers_see_only_the_minimum_necessary_of_a_patient(
    intake: FastAPI, two: tuple[Facility, Facility]
) -> None:
    a, _ = two
    full = (await a.client.get(f"/{a.patient}")).json()
    full_with_contacts = {
        **full,
        "telecom": [{"system": "phone", "value": "555-0100"}],
        "address": [{"line": ["1 Elm St"], "state": "TX"}],
    }
    assert (await a.client.put(f"/{a.patient}", json=full_with_contacts)).status_code == 200
    await _task_changed(intake, _task(a.order, VENDOR))
    async with as_caller(intake, partner_vendor(VENDOR)) as vendor:
        for shown in (
            (await vendor.get(f"/{a.patient}")).json(),
            searchset(await vendor.get("/Patient"))["entry"][0]["resource"],
            (await vendor.get(f"/{a.patient}/_history")).json()["entry"][0]["resource"],
        ):
            assert "telecom" not in shown and "address" not in shown
            assert shown["name"] == full["name"] and shown["birthDate"] == full["birthDate"]
            assert {"code": "REDACTED"}.items() <= shown["meta"]["security"][-1].items()
    facility_view = (await a.client.get(f"/{a.patient}")).json()
    assert facility_view["telecom"] and facility_view["address"]


async def test_a_reader_may_fetch_the_images_of_its_study_from_the_facilitys_endpoint(
    intake: FastAPI, two: tuple[Facility, Facility]
) -> None:
    a, b = two
    endpoint = await create(
        a.client,
        {
            "resourceType": "Endpoint",
            "status": "active",
            "connectionType": {"code": "dicom-wado-rs"},
            "payloadType": [{"text": "DICOM"}],
            "address": "https://pacs.alder.example/dicomweb",
            "managingOrganization": {"reference": a.organization},
        },
    )
    endpoint_ref = f"Endpoint/{endpoint['id']}"
    stored = (await a.client.get(f"/{a.study}")).json()
    with_endpoint = {**stored, "endpoint": [{"reference": endpoint_ref}]}
    assert (await a.client.put(f"/{a.study}", json=with_endpoint)).status_code == 200
    await _task_changed(intake, _task(a.order, VENDOR))
    async with as_caller(intake, partner_vendor(VENDOR)) as vendor:
        assert (await vendor.get(f"/{endpoint_ref}")).status_code == 200
    assert (await b.client.get(f"/{endpoint_ref}")).status_code == 404
    updated = (await a.client.get(f"/{endpoint_ref}")).json()
    renamed = {**updated, "name": "PACS (new)"}
    assert (await a.client.put(f"/{endpoint_ref}", json=renamed)).status_code == 200
    async with as_caller(intake, partner_vendor(VENDOR)) as vendor:
        assert (await vendor.get(f"/{endpoint_ref}")).status_code == 200  # kept on update
