"""A service receiving another's events (`POST /events/<name>`) acts on each event exactly
once: only signed notifications of its topic get in, a re-delivered event changes nothing,
and an event whose handling failed is rolled back and handled again when the publisher
retries -- without repeating the events before it.

The service here is a small app built by `create_service_app` on the test's database; its
handler writes a Basic resource per event through `context.fhir`, so "handled" means
"committed", and a failed event's write must not survive. Last, the subscriptions that
bring the notifications: each put in place at its publisher once that publisher answers.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry import trace

from shared.app import create_service_app
from shared.events.bootstrap import keep_subscribed
from shared.events.consumer import ConsumerContext, Consumption
from shared.events.delivery import SIGNATURE_HEADER, sign
from shared.events.notifications import NumberedEvent, notification_bundle, status_parameters
from shared.events.received import ReceivedEvent
from shared.events.topics import TOPIC_BASE
from shared.fhir.registry import Registry, ResourceDefinition, token
from shared.peers import PeerUnavailable
from shared.settings import ServiceSettings
from tests.fixtures import AUTH, EVENTS_SECRET
from tests.support.databases import truncate_all

TOPIC = f"{TOPIC_BASE}/order-registered"
PUBLISHER = "http://intake.test/fhir"
SUBSCRIPTION = f"{PUBLISHER}/Subscription/sub-1"
HANDLED = "urn:test:handled-event"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"

REGISTRY = Registry(
    service="consumer-test",
    definitions=(
        ResourceDefinition(
            type="Basic",
            search_params=(token("identifier", "identifier", description="Which event"),),
        ),
    ),
)


@dataclass
class Handler:
    """Writes one Basic per event; fails as told, after writing (so a rollback shows)."""

    attempts: list[int] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)
    unavailable_on: set[int] = field(default_factory=set)
    broken_on: set[int] = field(default_factory=set)

    async def __call__(self, event: ReceivedEvent, context: ConsumerContext) -> None:
        self.attempts.append(event.number)
        self.traces.append(f"{trace.get_current_span().get_span_context().trace_id:032x}")
        handled = {
            "resourceType": "Basic",
            "identifier": [{"system": HANDLED, "value": f"{event.subscription}#{event.number}"}],
            "code": {"text": (event.resource or {}).get("id", "no resource")},
        }
        await context.fhir.create("Basic", handled)
        if event.number in self.unavailable_on:
            raise PeerUnavailable("intake: HTTP 503")
        if event.number in self.broken_on:
            raise RuntimeError("a bug in the handler")


@dataclass
class Consumer:
    app: FastAPI
    handler: Handler
    http: httpx.AsyncClient

    async def receive(
        self, body: bytes, *, name: str = "orders", signature: str | None = None
    ) -> httpx.Response:
        """POST `body` to the consumption's endpoint, correctly signed unless told."""
        if signature is None:
            signature = sign(EVENTS_SECRET.encode(), int(time.time()), body)
        headers = {"Content-Type": "application/fhir+json", SIGNATURE_HEADER: signature}
        return await self.http.post(
            f"http://testserver/events/{name}", content=body, headers=headers
        )

    async def handled(self) -> list[str]:
        """The events whose handling committed, as `<subscription>#<number>`."""
        response = await self.http.get(
            "/Basic", params={"identifier": f"{HANDLED}|", "_count": "100"}
        )
        assert response.status_code == 200, response.text
        return sorted(
            e["resource"]["identifier"][0]["value"] for e in response.json().get("entry") or []
        )


@pytest.fixture
async def consumer(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[Consumer]:
    handler = Handler()
    consumption = Consumption(name="orders", publisher="intake", topic=TOPIC, handler=handler)
    settings = make_settings("intake")  # any service's migrations build the store and inbox
    app = create_service_app(
        registry=REGISTRY, settings=settings, description="test", consumptions=(consumption,)
    )
    async with LifespanManager(app):
        if settings.resolved_database_url.startswith("postgresql"):
            await truncate_all(app.state.database.engine)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        base = "http://testserver/fhir"
        async with httpx.AsyncClient(transport=transport, base_url=base, headers=AUTH) as http:
            yield Consumer(app, handler, http)


def order_event(number: int, *, traceparent: str | None = None) -> NumberedEvent:
    order = {"resourceType": "ServiceRequest", "id": f"order-{number}", "status": "active"}
    return NumberedEvent(
        number,
        "ServiceRequest",
        f"order-{number}",
        1,
        datetime(2024, 5, 1, tzinfo=UTC),
        orjson.dumps(order).decode(),
        traceparent,
    )


def notification(
    *numbers: int,
    kind: str = "event-notification",
    topic: str = TOPIC,
    subscription: str = SUBSCRIPTION,
    traceparents: dict[int, str] | None = None,
) -> bytes:
    events = [order_event(n, traceparent=(traceparents or {}).get(n)) for n in numbers]
    status = status_parameters(
        subscription=subscription,
        topic=topic,
        status="active",
        kind=kind,
        events_since_start=max(numbers, default=0),
        events=events,
        content="full-resource",
        base_url=PUBLISHER,
    )
    return notification_bundle(status, events, content="full-resource", base_url=PUBLISHER)


def consumed(*numbers: int, subscription: str = SUBSCRIPTION) -> list[str]:
    return sorted(f"{subscription}#{n}" for n in numbers)


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


# -- exactly once -------------------------------------------------------------------------


async def test_a_signed_notification_runs_the_handler_once_per_event(consumer: Consumer) -> None:
    response = await consumer.receive(notification(1, 2, 3))

    assert response.status_code == 200, response.text
    assert consumer.handler.attempts == [1, 2, 3]
    assert await consumer.handled() == consumed(1, 2, 3)


async def test_the_same_notification_again_changes_nothing(consumer: Consumer) -> None:
    body = notification(1, 2)
    assert (await consumer.receive(body)).status_code == 200

    again = await consumer.receive(notification(1, 2))

    assert again.status_code == 200, again.text
    assert consumer.handler.attempts == [1, 2]
    assert await consumer.handled() == consumed(1, 2)


async def test_the_same_number_from_another_subscription_is_another_event(
    consumer: Consumer,
) -> None:
    other = f"{PUBLISHER}/Subscription/sub-2"
    assert (await consumer.receive(notification(1))).status_code == 200

    response = await consumer.receive(notification(1, subscription=other))

    assert response.status_code == 200, response.text
    assert await consumer.handled() == sorted(consumed(1) + consumed(1, subscription=other))


async def test_each_event_is_handled_in_the_trace_of_its_own_change(consumer: Consumer) -> None:
    other_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparents = {
        1: f"00-{TRACE_ID}-b7ad6b7169203331-01",
        2: f"00-{other_trace}-00f067aa0ba902b7-01",
    }

    response = await consumer.receive(notification(1, 2, traceparents=traceparents))

    assert response.status_code == 200, response.text
    assert consumer.handler.traces == [TRACE_ID, other_trace]


# -- what gets in -------------------------------------------------------------------------


def _signed_now_with(secret: str, body: bytes) -> str:
    return sign(secret.encode(), int(time.time()), body)


BAD_SIGNATURES: dict[str, Callable[[bytes], str]] = {
    "missing": lambda body: "",
    "another secret": lambda body: _signed_now_with("another-secret-0123456789abcdef-xyz", body),
    "another body": lambda body: _signed_now_with(EVENTS_SECRET, body + b" "),
    "expired": lambda body: sign(EVENTS_SECRET.encode(), int(time.time()) - 3600, body),
    "garbled": lambda body: "v1=deadbeef",
}


@pytest.mark.parametrize("signature", BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
async def test_an_unsigned_or_badly_signed_notification_is_refused_and_runs_nothing(
    consumer: Consumer, signature: Callable[[bytes], str]
) -> None:
    body = notification(1)

    response = await consumer.receive(body, signature=signature(body))

    outcome = assert_outcome(response, 401)
    assert SIGNATURE_HEADER in outcome["issue"][0]["diagnostics"]
    assert consumer.handler.attempts == []
    assert await consumer.handled() == []


@pytest.mark.parametrize("kind", ["handshake", "heartbeat"])
async def test_handshakes_and_heartbeats_are_acknowledged_and_run_nothing(
    consumer: Consumer, kind: str
) -> None:
    response = await consumer.receive(notification(kind=kind))

    assert response.status_code == 200, response.text
    assert consumer.handler.attempts == []


async def test_a_notification_of_another_topic_is_refused(consumer: Consumer) -> None:
    response = await consumer.receive(notification(1, topic=f"{TOPIC_BASE}/report-final"))

    assert_outcome(response, 400)
    assert consumer.handler.attempts == []


async def test_a_signed_body_that_is_not_a_notification_is_refused(consumer: Consumer) -> None:
    for body in (b"not json", b'{"resourceType": "Patient"}'):
        assert_outcome(await consumer.receive(body), 400)
    assert consumer.handler.attempts == []


async def test_an_unknown_event_endpoint_is_not_found(consumer: Consumer) -> None:
    response = await consumer.receive(notification(1), name="no-such-consumption")

    assert_outcome(response, 404)
    assert consumer.handler.attempts == []


async def test_a_signed_notification_with_an_odd_parameter_is_refused_not_a_server_error(
    consumer: Consumer,
) -> None:
    bundle = orjson.loads(notification(1))
    bundle["entry"][0]["resource"]["parameter"].append("not-a-parameter")

    response = await consumer.receive(orjson.dumps(bundle))

    assert_outcome(response, 400)


# -- failures and retries -----------------------------------------------------------------


async def test_a_peer_being_down_answers_503_and_the_retry_handles_the_event(
    consumer: Consumer,
) -> None:
    consumer.handler.unavailable_on = {1}

    response = await consumer.receive(notification(1))

    assert_outcome(response, 503)
    assert response.headers["Retry-After"].isdigit()
    assert await consumer.handled() == []  # its write was rolled back with it

    consumer.handler.unavailable_on = set()
    retry = await consumer.receive(notification(1))

    assert retry.status_code == 200, retry.text
    assert consumer.handler.attempts == [1, 1]
    assert await consumer.handled() == consumed(1)


async def test_a_failure_midway_keeps_earlier_events_and_the_resend_finishes_the_rest(
    consumer: Consumer,
) -> None:
    consumer.handler.unavailable_on = {2}

    failed = await consumer.receive(notification(1, 2, 3))

    assert_outcome(failed, 503)
    assert consumer.handler.attempts == [1, 2]  # 3 waits for the retry
    assert await consumer.handled() == consumed(1)

    consumer.handler.unavailable_on = set()
    resent = await consumer.receive(notification(1, 2, 3))

    assert resent.status_code == 200, resent.text
    assert consumer.handler.attempts == [1, 2, 2, 3]
    assert await consumer.handled() == consumed(1, 2, 3)


async def test_a_handler_bug_answers_500_and_leaves_the_event_to_be_retried(
    consumer: Consumer,
) -> None:
    consumer.handler.broken_on = {1}

    response = await consumer.receive(notification(1))

    assert_outcome(response, 500)
    assert await consumer.handled() == []

    consumer.handler.broken_on = set()
    assert (await consumer.receive(notification(1))).status_code == 200
    assert await consumer.handled() == consumed(1)


# -- subscribing --------------------------------------------------------------------------


class Publishers:
    """The services a consumer subscribes at; `down` ones refuse the first `down[name]` tries."""

    def __init__(self, **down: int) -> None:
        self.down = down
        self.stored: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    async def put(
        self, service: str, path: str, resource: dict[str, Any], *, params: dict[str, str]
    ) -> dict[str, Any]:
        assert path == "Subscription"
        if self.down.get(service, 0) > 0:
            self.down[service] -= 1
            raise PeerUnavailable(f"{service}: connection refused")
        self.stored.append((service, resource, params))
        return {**resource, "id": f"sub-{len(self.stored)}"}


async def test_each_subscription_is_put_in_place_once_its_publisher_answers() -> None:
    settings = ServiceSettings(service_name="sla", internal_url="http://sla.internal:8084")
    consumptions = (
        Consumption(name="orders", publisher="intake", topic=TOPIC, handler=Handler()),
        Consumption(
            name="reports",
            publisher="reporting",
            topic=f"{TOPIC_BASE}/report-final",
            handler=Handler(),
        ),
    )
    publishers = Publishers(reporting=1)

    await keep_subscribed(consumptions, settings, publishers, rng=random.Random(1))  # type: ignore[arg-type]

    assert [service for service, _, _ in publishers.stored] == ["intake", "reporting"]
    _, resource, params = publishers.stored[1]
    endpoint = "http://sla.internal:8084/events/reports"
    assert params == {"criteria": f"{TOPIC_BASE}/report-final", "url": endpoint}
    assert resource["channel"]["endpoint"] == endpoint
    assert resource["status"] == "requested"
