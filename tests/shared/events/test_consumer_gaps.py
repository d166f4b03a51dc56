"""A consumer that hears event N+k after N fetches the events in between from the
publisher's `Subscription/{id}/$events` and handles them first, in order, each once; what
the publisher no longer keeps is logged without content and skipped; a publisher that cannot
answer defers the event (503) so that nothing is skipped by accident.

The consumer is test_consumer's small app; the publisher is a stand-in answering `$events`
from the events it still keeps.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager

from shared.app import create_service_app
from shared.events.consumer import Consumption
from shared.events.notifications import notification_bundle, status_parameters
from shared.peers import PeerUnavailable
from shared.settings import ServiceSettings
from tests.fixtures import AUTH
from tests.shared.events.test_consumer import (
    PUBLISHER,
    REGISTRY,
    SUBSCRIPTION,
    TOPIC,
    Consumer,
    Handler,
    assert_outcome,
    consumed,
    notification,
    order_event,
)
from tests.support.databases import truncate_all

# The publisher names itself by its internal address when asked directly.
INTERNAL = "http://intake.internal:8081/fhir"


class Publisher:
    """Answers `$events` from the event numbers it still keeps; `down` refuses."""

    def __init__(self, kept: set[int]) -> None:
        self.kept = kept
        self.down = False
        self.asked: list[tuple[str, str, dict[str, str]]] = []

    async def get(self, service: str, path: str, *, params: dict[str, str]) -> dict[str, Any]:
        self.asked.append((service, path, params))
        if self.down:
            raise PeerUnavailable(f"{service}: connection refused")
        since, until = int(params["eventsSinceNumber"]), int(params["eventsUntilNumber"])
        events = [order_event(n) for n in sorted(self.kept) if since <= n <= until]
        status = status_parameters(
            subscription=f"{INTERNAL}/Subscription/sub-1",
            topic=TOPIC,
            status="active",
            kind="query-event",
            events_since_start=max(self.kept, default=0),
            events=events,
            content="full-resource",
            base_url=INTERNAL,
        )
        answer: dict[str, Any] = orjson.loads(
            notification_bundle(status, events, content="full-resource", base_url=INTERNAL)
        )
        return answer


@pytest.fixture
def publisher() -> Publisher:
    return Publisher(kept={1, 2, 3, 4, 5, 6})


@pytest.fixture
async def consumer(
    make_settings: Callable[..., ServiceSettings], publisher: Publisher
) -> AsyncIterator[Consumer]:
    handler = Handler()
    consumption = Consumption(name="orders", publisher="intake", topic=TOPIC, handler=handler)
    settings = make_settings("intake")
    app = create_service_app(
        registry=REGISTRY, settings=settings, description="test", consumptions=(consumption,)
    )
    async with LifespanManager(app):
        if settings.resolved_database_url.startswith("postgresql"):
            await truncate_all(app.state.database.engine)
        peers, app.state.peers = app.state.peers, publisher
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        base = "http://testserver/fhir"
        async with httpx.AsyncClient(transport=transport, base_url=base, headers=AUTH) as http:
            yield Consumer(app, handler, http)
        app.state.peers = peers  # the app closes its own clients on shutdown


async def test_events_lost_between_two_notifications_are_fetched_and_handled_first(
    consumer: Consumer, publisher: Publisher
) -> None:
    assert (await consumer.receive(notification(1))).status_code == 200

    response = await consumer.receive(notification(4))

    assert response.status_code == 200, response.text
    assert consumer.handler.attempts == [1, 2, 3, 4]
    assert await consumer.handled() == consumed(1, 2, 3, 4)
    params = {"eventsSinceNumber": "2", "eventsUntilNumber": "3"}
    assert publisher.asked == [("intake", "Subscription/sub-1/$events", params)]


async def test_a_fetched_event_delivered_late_changes_nothing(consumer: Consumer) -> None:
    await consumer.receive(notification(1))
    await consumer.receive(notification(3))

    late = await consumer.receive(notification(2))

    assert late.status_code == 200, late.text
    assert consumer.handler.attempts == [1, 2, 3]
    assert await consumer.handled() == consumed(1, 2, 3)


async def test_events_the_publisher_no_longer_keeps_are_logged_without_content_and_skipped(
    consumer: Consumer, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher.kept = {1, 3, 5}
    await consumer.receive(notification(1))

    with caplog.at_level(logging.WARNING, logger="teleradiology.consumer"):
        response = await consumer.receive(notification(5))

    assert response.status_code == 200, response.text
    assert consumer.handler.attempts == [1, 3, 5]
    [record] = [r for r in caplog.records if "no longer kept" in r.getMessage()]
    assert (record.first_missing, record.missing, record.subscription) == (2, 2, "sub-1")  # type: ignore[attr-defined]
    assert "order-" not in str(record.__dict__)


async def test_the_first_event_heard_of_a_subscription_fetches_nothing(
    consumer: Consumer, publisher: Publisher
) -> None:
    response = await consumer.receive(notification(5))

    assert response.status_code == 200, response.text
    assert consumer.handler.attempts == [5]
    assert publisher.asked == []


async def test_a_publisher_that_cannot_replay_defers_the_event_until_it_can(
    consumer: Consumer, publisher: Publisher
) -> None:
    await consumer.receive(notification(1))
    publisher.down = True

    deferred = await consumer.receive(notification(3))

    assert_outcome(deferred, 503)
    assert await consumer.handled() == consumed(1)
    publisher.down = False
    retry = await consumer.receive(notification(3))
    assert retry.status_code == 200, retry.text
    assert await consumer.handled() == consumed(1, 2, 3)


async def test_events_of_one_notification_after_a_gap_come_in_number_order(
    consumer: Consumer,
) -> None:
    await consumer.receive(notification(1))

    response = await consumer.receive(notification(4, 5, 6))

    assert response.status_code == 200, response.text
    assert consumer.handler.attempts == [1, 2, 3, 4, 5, 6]


def heartbeat(count: int) -> bytes:
    """A heartbeat saying the subscription has fired `count` events so far."""
    status = status_parameters(
        subscription=SUBSCRIPTION,
        topic=TOPIC,
        status="active",
        kind="heartbeat",
        events_since_start=count,
        events=[],
        content="full-resource",
        base_url=PUBLISHER,
    )
    return notification_bundle(status, [], content="full-resource", base_url=PUBLISHER)


async def test_a_lost_last_event_is_fetched_when_the_heartbeat_counts_past_it(
    consumer: Consumer, publisher: Publisher
) -> None:
    await consumer.receive(notification(1))

    quiet = await consumer.receive(heartbeat(1))
    response = await consumer.receive(heartbeat(3))

    assert (quiet.status_code, response.status_code) == (200, 200)
    assert consumer.handler.attempts == [1, 2, 3]
    params = {"eventsSinceNumber": "2", "eventsUntilNumber": "3"}
    assert publisher.asked == [("intake", "Subscription/sub-1/$events", params)]
