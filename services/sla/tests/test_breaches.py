"""A final report after its order's deadline is recorded as one `breached` DetectedIssue --
the resource behind the `sla-breached` topic -- however often the event is replayed, and a
final report in time records none. Events come in as the publishers send them: signed
notifications POSTed to sla's event endpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from services.sla.breaches import SLA_EVENT_SYSTEM
from services.sla.resources import REGISTRY
from services.sla.tests.builders import T0, Peers, diagnostic_report, new_order_id, order, task
from shared.events.delivery import SIGNATURE_HEADER, sign
from shared.events.notifications import NumberedEvent, notification_bundle, status_parameters
from shared.events.topics import TOPIC_BASE
from tests.fixtures import EVENTS_SECRET


@pytest.fixture(autouse=True)
def services_knowing_nothing(sla_app: FastAPI) -> Iterator[None]:
    """The services sla asks (the owner's role, the contract) answer, knowing none of it."""
    peers, sla_app.state.peers = sla_app.state.peers, Peers()
    yield
    sla_app.state.peers = peers  # the app closes its own clients on shutdown


async def deliver(
    http: httpx.AsyncClient, topic: str, resource: dict[str, Any], number: int
) -> None:
    """What a publisher POSTs to sla's endpoint for `topic`: one signed full-resource event."""
    base, subscription = (
        "http://publisher.test/fhir",
        f"http://publisher.test/fhir/Subscription/{topic}",
    )
    event = NumberedEvent(
        number,
        resource["resourceType"],
        resource["id"],
        int(resource["meta"]["versionId"]),
        T0,
        orjson.dumps(resource).decode(),
    )
    status = status_parameters(
        subscription=subscription,
        topic=f"{TOPIC_BASE}/{topic}",
        status="active",
        kind="event-notification",
        events_since_start=number,
        events=[event],
        content="full-resource",
        base_url=base,
    )
    body = notification_bundle(status, [event], content="full-resource", base_url=base)
    signature = sign(EVENTS_SECRET.encode(), int(time.time()), body)
    headers = {"Content-Type": "application/fhir+json", SIGNATURE_HEADER: signature}
    response = await http.post(f"http://testserver/events/{topic}", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def breaches(sla: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    response = await sla.get("/DetectedIssue", params={"implicated": f"ServiceRequest/{order_id}"})
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry") or []]


async def test_a_late_final_report_is_recorded_once_as_an_sla_breach(
    sla: httpx.AsyncClient,
) -> None:
    order_id = new_order_id()
    await deliver(sla, "order-registered", order(order_id), 1)
    await deliver(sla, "task-created", task(order_id, minutes=2, deadline=60), 1)

    for number in (1, 2, 3):  # replayed, e.g. through $events, with new numbers
        await deliver(sla, "report-final", diagnostic_report(order_id, minutes=90), number)

    (issue,) = await breaches(sla, order_id)
    assert issue["code"]["coding"] == [{"system": SLA_EVENT_SYSTEM, "code": "breached"}]
    assert issue["identifier"] == [{"system": SLA_EVENT_SYSTEM, "value": f"breached/{order_id}"}]
    assert "30.0 minutes after the deadline" in issue["detail"]
    sla_breached = REGISTRY.topic(f"{TOPIC_BASE}/sla-breached")
    predicted = REGISTRY.topic(f"{TOPIC_BASE}/sla-breach-predicted")
    assert sla_breached is not None and predicted is not None
    assert sla_breached.matches("DetectedIssue", "create", None, issue)
    assert not predicted.matches("DetectedIssue", "create", None, issue)


async def test_a_final_report_in_time_records_no_breach(sla: httpx.AsyncClient) -> None:
    order_id = new_order_id()
    await deliver(sla, "task-created", task(order_id, minutes=2, deadline=60), 1)

    await deliver(sla, "report-final", diagnostic_report(order_id, minutes=59), 1)

    assert await breaches(sla, order_id) == []


async def test_a_late_final_heard_before_its_task_still_records_the_breach(
    sla: httpx.AsyncClient,
) -> None:
    order_id = new_order_id()
    await deliver(sla, "report-final", diagnostic_report(order_id, minutes=90), 1)

    await deliver(sla, "task-created", task(order_id, minutes=2, deadline=60), 1)

    assert len(await breaches(sla, order_id)) == 1
