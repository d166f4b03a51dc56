"""A facility's subscription hears only of what the facility may read -- with no filter at
all -- and another facility can neither see it (nor its signing secret) nor its events."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from services.intake.tests.builders import facility, order, registered_patient
from tests.fixtures import client_for
from tests.shared.events.test_subscriptions import (
    Subscriber,
    _status,
    _wait_for,
    _wait_for_status,
    events_app,  # noqa: F401  (fixture)
    subscriber,  # noqa: F401  (fixture)
    subscription,
)
from tests.support.rest import create
from tests.support.tenants import as_caller, facility_ehr

pytestmark = pytest.mark.asyncio


async def test_a_subscription_without_filters_notifies_only_its_owners_orders(
    events_app: FastAPI,  # noqa: F811
    subscriber: tuple[Subscriber, str],  # noqa: F811
) -> None:
    endpoint, url = subscriber
    async with client_for(events_app) as admin:
        alder = f"Organization/{(await create(admin, facility('1003000126', 'Alder')))['id']}"
        birch = f"Organization/{(await create(admin, facility('1013000133', 'Birch')))['id']}"
    async with (
        as_caller(events_app, facility_ehr(alder)) as a,
        as_caller(events_app, facility_ehr(birch)) as b,
    ):
        created = await a.post("/Subscription", json=subscription(url, content="full-resource"))
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        await _wait_for_status(a, sub_id, "active")
        assert (await b.get(f"/Subscription/{sub_id}")).status_code == 404
        assert (await b.get(f"/Subscription/{sub_id}/$status")).status_code == 404
        assert (await b.get(f"/Subscription/{sub_id}/$events")).status_code == 404
        assert (await b.get("/Subscription")).json().get("total") == 0

        patient_a = await create(a, registered_patient(mrn="MRN-A", family="Alder"))
        patient_b = await create(b, registered_patient(mrn="MRN-B", family="Birch"))
        for number in range(2):
            await create(
                b, order(f"Patient/{patient_b['id']}", birch, accession_number=f"B-{number}")
            )
        mine = await create(a, order(f"Patient/{patient_a['id']}", alder, accession_number="A-1"))
        await _wait_for(lambda: any(_status(n).get("events") for n in endpoint.bundles()))
        await create(a, order(f"Patient/{patient_a['id']}", alder, accession_number="A-2"))
        await _wait_for(
            lambda: sum(len(_status(n).get("events", [])) for n in endpoint.bundles()) >= 2
        )
        notified = [
            entry["resource"]
            for n in endpoint.bundles()
            if _status(n)["type"] == "event-notification"
            for entry in n["entry"][1:]
        ]
        assert [r["requester"]["reference"] for r in notified] == [alder, alder]
        assert notified[0]["id"] == mine["id"]
        numbers = [e for n in endpoint.bundles() for e in _status(n).get("events", [])]
        assert numbers == [1, 2]  # nothing numbered for Birch's orders: no gaps either
