"""Topic-based subscriptions end to end inside one service: handshake, numbered and signed
notifications filtered by criteria, `$status` and `$events`, and redelivery after the
subscriber was down -- in order, with no gap."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import update

from services.intake.tests.builders import order, ordering_setup
from shared.events.delivery import SIGNATURE_HEADER, verify_signature
from shared.events.subscriptions import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    PAYLOAD_CONTENT,
    SIGNING_SECRET,
)
from shared.events.tables import subscription_state
from shared.events.topics import TOPIC_BASE
from shared.fhir.service import now_utc
from shared.settings import ServiceSettings
from tests.fixtures import client_for, start_app

SECRET = "s" * 40
ORDER_REGISTERED = f"{TOPIC_BASE}/order-registered"


class Subscriber:
    """A notification endpoint on 127.0.0.1 that records what it receives; it answers
    503 while `down` is set."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.down = False
        self.arrived = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 503 if self.down else 200
        if not self.down:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            self.received.append((headers, body))
            self.arrived.set()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def bundles(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.received]


def _status(bundle: dict[str, Any]) -> dict[str, Any]:
    parameters = bundle["entry"][0]["resource"]["parameter"]
    out: dict[str, Any] = {}
    for p in parameters:
        if p["name"] == "notification-event":
            parts = {part["name"]: part for part in p["part"]}
            out.setdefault("events", []).append(int(parts["event-number"]["valueString"]))
        else:
            value = next(v for k, v in p.items() if k.startswith("value"))
            out[p["name"]] = value
    return out


@pytest.fixture
async def subscriber() -> AsyncIterator[tuple[Subscriber, str]]:
    endpoint = Subscriber()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(endpoint, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:  # uvicorn offers no event to await
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield endpoint, f"http://127.0.0.1:{port}/notify"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def events_app(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        "intake",
        events_enabled=True,
        # intake subscribes to assignment (not running here): it keeps retrying meanwhile
        internal_url="http://127.0.0.1:9",
        subscription_allow_http=True,
        subscription_allowed_networks=["127.0.0.0/8"],
    )
    app, manager = await start_app("intake", settings)
    try:
        yield app
    finally:
        await manager.__aexit__(None, None, None)


def subscription(
    endpoint: str,
    *,
    filters: tuple[str, ...] = (),
    content: str = "id-only",
    heartbeat: int | None = None,
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
    }
    if heartbeat:
        channel["extension"] = [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": heartbeat}]
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Orders of one facility",
        "criteria": ORDER_REGISTERED,
        "channel": channel,
        "extension": [{"url": SIGNING_SECRET, "valueString": SECRET}],
    }
    if filters:
        resource["_criteria"] = {
            "extension": [{"url": FILTER_CRITERIA, "valueString": f} for f in filters]
        }
    return resource


async def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def _wait_for_status(client: httpx.AsyncClient, sub_id: str, status: str) -> None:
    deadline = time.monotonic() + 10
    while (await client.get(f"/Subscription/{sub_id}")).json()["status"] != status:
        assert time.monotonic() < deadline, f"the subscription never became {status}"
        await asyncio.sleep(0.05)


async def test_handshake_then_signed_numbered_notifications_for_matching_orders_only(
    events_app: FastAPI, subscriber: tuple[Subscriber, str]
) -> None:
    endpoint, url = subscriber
    async with client_for(events_app) as client:
        patient_ref, facility_ref = await ordering_setup(client)
        filters = (f"ServiceRequest?facility={facility_ref}",)
        created = await client.post("/Subscription", json=subscription(url, filters=filters))
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        await _wait_for(lambda: len(endpoint.received) >= 1)
        assert _status(endpoint.bundles()[0])["type"] == "handshake"
        await _wait_for_status(client, sub_id, "active")

        other = await client.post(
            "/Organization", json={"resourceType": "Organization", "name": "Elsewhere"}
        )
        other_ref = f"Organization/{other.json()['id']}"
        for number, facility in enumerate((facility_ref, other_ref, facility_ref)):
            placed = order(patient_ref, facility, accession_number=f"ACC-{number}")
            assert (await client.post("/ServiceRequest", json=placed)).status_code == 201
        await _wait_for(
            lambda: sum(len(_status(b).get("events", [])) for b in endpoint.bundles()) >= 2
        )

        notifications = [
            b for b in endpoint.bundles() if _status(b)["type"] == "event-notification"
        ]
        numbers = [n for b in notifications for n in _status(b)["events"]]
        assert numbers == [1, 2]
        for headers, body in endpoint.received:
            assert verify_signature(
                SECRET.encode(), headers[SIGNATURE_HEADER.lower()], body, now=time.time()
            )
        focus_urls = [e["fullUrl"] for b in notifications for e in b["entry"][1:]]
        assert all("/ServiceRequest/" in u for u in focus_urls) and len(focus_urls) == 2

        status = await client.get(f"/Subscription/{sub_id}/$status")
        assert status.status_code == 200
        parameters = _status({"entry": [{"resource": status.json()["entry"][0]["resource"]}]})
        assert parameters["events-since-subscription-start"] == "2"
        assert parameters["status"] == "active"

        replay = await client.get(
            f"/Subscription/{sub_id}/$events",
            params={"eventsSinceNumber": "2", "content": "full-resource"},
        )
        assert replay.status_code == 200
        replayed = replay.json()
        assert _status(replayed)["events"] == [2]
        assert replayed["entry"][1]["resource"]["resourceType"] == "ServiceRequest"


async def test_a_subscriber_that_was_down_gets_everything_in_order_when_it_is_back(
    events_app: FastAPI, subscriber: tuple[Subscriber, str]
) -> None:
    endpoint, url = subscriber
    async with client_for(events_app) as client:
        patient_ref, facility_ref = await ordering_setup(client)
        created = await client.post("/Subscription", json=subscription(url))
        sub_id = created.json()["id"]
        await _wait_for(lambda: len(endpoint.received) >= 1)

        endpoint.down = True
        for number in range(4):
            placed = order(patient_ref, facility_ref, accession_number=f"ACC-D{number}")
            assert (await client.post("/ServiceRequest", json=placed)).status_code == 201
        await asyncio.sleep(0.5)
        endpoint.down = False
        # Retries back off; skip the wait by making the subscription due again.
        async with events_app.state.database.transaction() as session:
            await session.execute(
                update(subscription_state)
                .where(subscription_state.c.subscription_id == sub_id)
                .values(next_attempt_at=now_utc())
            )
        await _wait_for(
            lambda: sum(len(_status(b).get("events", [])) for b in endpoint.bundles()) >= 4
        )
    numbers = [n for b in endpoint.bundles() for n in _status(b).get("events", [])]
    assert numbers == [1, 2, 3, 4]


async def test_a_subscription_to_an_unknown_topic_or_a_forbidden_endpoint_is_refused(
    events_app: FastAPI,
) -> None:
    async with client_for(events_app) as client:
        unknown = {**subscription("http://127.0.0.1:9/x"), "criteria": f"{TOPIC_BASE}/nope"}
        assert (await client.post("/Subscription", json=unknown)).status_code == 422
        metadata = subscription("http://169.254.169.254/latest/meta-data")
        refused = await client.post("/Subscription", json=metadata)
        assert refused.status_code == 422
        assert refused.json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
        weak = subscription("http://127.0.0.1:9/x")
        weak["extension"][0]["valueString"] = "short"
        assert (await client.post("/Subscription", json=weak)).status_code == 422
        bad_filter = subscription("http://127.0.0.1:9/x", filters=("Patient?name=x",))
        assert (await client.post("/Subscription", json=bad_filter)).status_code == 422
        assert (await client.get("/Subscription", params={"status": "active"})).json().get(
            "total"
        ) == 0
