"""Delivery receipts: once a subscriber accepted an event notification, the service's
`Registry.delivery_receipt` hook hears which events it got and whose subscription it was
(the owner's access labels); a hook that fails changes nothing about the delivery."""

from __future__ import annotations

from dataclasses import replace

from fastapi import FastAPI
from sqlalchemy import select

from services.intake.tests.builders import order, ordering_setup
from shared.events.consumer import ConsumerContext
from shared.events.receipts import DeliveryReceipt
from shared.events.tables import subscription_state
from tests.fixtures import client_for
from tests.shared.events.test_subscriptions import (
    ORDER_REGISTERED,
    Subscriber,
    _status,
    _wait_for,
    _wait_for_status,
    events_app,  # noqa: F401  (fixture)
    subscriber,  # noqa: F401  (fixture)
    subscription,
)
from tests.support.tenants import as_caller, facility_ehr


def with_receipts(app: FastAPI, hook: object) -> None:
    """From now on the app's notifier calls `hook` after each accepted notification."""
    app.state.notifier.registry = replace(app.state.registry, delivery_receipt=hook)


def delivered_numbers(endpoint: Subscriber) -> list[int]:
    return [n for b in endpoint.bundles() for n in _status(b).get("events", [])]


async def test_an_accepted_notification_tells_the_hook_its_events_and_the_owners_labels(
    events_app: FastAPI,  # noqa: F811
    subscriber: tuple[Subscriber, str],  # noqa: F811
) -> None:
    endpoint, url = subscriber
    receipts: list[DeliveryReceipt] = []

    async def hook(receipt: DeliveryReceipt, context: ConsumerContext) -> None:
        receipts.append(receipt)

    with_receipts(events_app, hook)
    async with client_for(events_app) as platform:
        patient_ref, facility_ref = await ordering_setup(platform)
        async with as_caller(events_app, facility_ehr(facility_ref)) as ehr:
            filters = (f"ServiceRequest?facility={facility_ref}",)
            created = await ehr.post("/Subscription", json=subscription(url, filters=filters))
            assert created.status_code == 201, created.text
            await _wait_for_status(ehr, created.json()["id"], "active")
            assert receipts == []  # the handshake delivered no event
            placed = await platform.post("/ServiceRequest", json=order(patient_ref, facility_ref))
            assert placed.status_code == 201, placed.text
            await _wait_for(lambda: len(receipts) >= 1)

    [receipt] = receipts
    assert receipt.subscription == created.json()["id"]
    assert receipt.topic == ORDER_REGISTERED
    assert facility_ref in receipt.labels and "*" not in receipt.labels
    [event] = receipt.events
    assert (event.number, event.resource_type, event.resource_id) == (
        1,
        "ServiceRequest",
        placed.json()["id"],
    )
    assert event.content is not None and placed.json()["id"] in event.content
    assert delivered_numbers(endpoint) == [1]


async def test_a_failing_hook_neither_undoes_nor_resends_the_delivery(
    events_app: FastAPI,  # noqa: F811
    subscriber: tuple[Subscriber, str],  # noqa: F811
) -> None:
    endpoint, url = subscriber
    calls: list[int] = []

    async def hook(receipt: DeliveryReceipt, context: ConsumerContext) -> None:
        calls.append(len(receipt.events))
        await context.fhir.create(
            "Organization", {"resourceType": "Organization", "name": "Written by a receipt"}
        )
        raise RuntimeError("the hook fails after writing")

    with_receipts(events_app, hook)
    async with client_for(events_app) as client:
        patient_ref, facility_ref = await ordering_setup(client)
        created = await client.post("/Subscription", json=subscription(url))
        sub_id = created.json()["id"]
        await _wait_for_status(client, sub_id, "active")
        for number in range(2):
            placed = order(patient_ref, facility_ref, accession_number=f"ACC-R{number}")
            assert (await client.post("/ServiceRequest", json=placed)).status_code == 201
        await _wait_for(lambda: sum(calls) >= 2)
        written = await client.get("/Organization", params={"name": "Written by a receipt"})

    assert delivered_numbers(endpoint) == [1, 2]  # each event once, in order
    assert sum(calls) == 2
    assert written.json().get("entry") is None  # the hook's transaction was rolled back
    async with events_app.state.database.transaction() as session:
        state = (
            await session.execute(
                select(subscription_state).where(subscription_state.c.subscription_id == sub_id)
            )
        ).one()
    assert (state.status, state.delivered_through, state.attempts) == ("active", 2, 0)
