"""The test subscriber (tests/support/subscriber.py) accepts only signed notifications,
records what they carry, and can go down and come back on the same port."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.events.delivery import SIGNATURE_HEADER, sign
from tests.support.subscriber import Subscriber

SECRET = "a-test-signing-secret-of-32-chars-or-more"
SUBSCRIPTION = "http://127.0.0.1:8080/fhir/Subscription/7"


def notification(kind: str, numbers: list[int], resources: list[dict[str, Any]]) -> bytes:
    events = [
        {
            "name": "notification-event",
            "part": [
                {"name": "event-number", "valueString": str(n)},
                {"name": "timestamp", "valueInstant": "2026-01-01T00:00:00Z"},
                {
                    "name": "focus",
                    "valueReference": {"reference": f"http://x/fhir/Task/{n}"},
                },
            ],
        }
        for n in numbers
    ]
    status = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": SUBSCRIPTION}},
            {"name": "topic", "valueCanonical": "http://example.org/topic"},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": kind},
            {
                "name": "events-since-subscription-start",
                "valueString": str(max(numbers, default=0)),
            },
            *events,
        ],
    }
    entries = [{"fullUrl": "urn:uuid:1", "resource": status}]
    entries += [{"fullUrl": f"http://x/fhir/Task/{r['id']}", "resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": "history", "entry": entries}).encode()


def post(url: str, body: bytes, secret: str = SECRET, **headers: str) -> httpx.Response:
    signature = sign(secret.encode(), int(time.time()), body)
    return httpx.post(
        url,
        content=body,
        headers={"Content-Type": "application/fhir+json", SIGNATURE_HEADER: signature, **headers},
        trust_env=False,
    )


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber(SECRET) as receiver:
        yield receiver


def test_a_signed_event_notification_is_accepted_and_recorded(subscriber: Subscriber) -> None:
    task = {"resourceType": "Task", "id": "3", "status": "requested"}
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    answer = post(
        subscriber.endpoint(),
        notification("event-notification", [3], [task]),
        traceparent=traceparent,
    )

    assert answer.status_code == 200
    [received] = subscriber.events()
    assert received.subscription == SUBSCRIPTION
    # (httpx may be traced by an earlier test's app: its instrumentation then sends its own.)
    assert received.traceparent == answer.request.headers["traceparent"]
    assert received.focus == ("http://x/fhir/Task/3",)
    assert subscriber.event_numbers("Subscription/7") == [3]
    assert subscriber.resources("Task") == [task]


def test_handshakes_are_told_apart_from_event_notifications(subscriber: Subscriber) -> None:
    post(subscriber.endpoint(), notification("handshake", [], []))
    post(subscriber.endpoint(), notification("event-notification", [1, 2], []))

    assert [n.type for n in subscriber.events(type=None)] == ["handshake", "event-notification"]
    assert subscriber.event_numbers() == [1, 2]


def test_a_bad_signature_is_answered_401_and_not_recorded(subscriber: Subscriber) -> None:
    body = notification("event-notification", [1], [])

    answer = post(subscriber.endpoint(), body, secret="another-secret-also-32-characters-long")

    assert answer.status_code == 401
    assert subscriber.events(type=None) == []
    assert [r.status for r in subscriber.rejected] == [401]


def test_wait_for_returns_what_arrives_and_reports_what_did_not(subscriber: Subscriber) -> None:
    post(subscriber.endpoint(), notification("event-notification", [1], []))

    assert subscriber.wait_for(lambda got: got.event_numbers(), timeout=1) == [1]
    with pytest.raises(AssertionError, match=r"event-notification .*Subscription/7 events=\[1\]"):
        subscriber.wait_for(lambda got: 2 in got.event_numbers(), timeout=0.2)


def test_down_refuses_connections_and_up_accepts_again_on_the_same_port(
    subscriber: Subscriber,
) -> None:
    endpoint = subscriber.endpoint()
    subscriber.down()

    with pytest.raises(httpx.ConnectError):
        post(endpoint, notification("heartbeat", [], []))

    subscriber.up()
    assert subscriber.endpoint() == endpoint
    assert post(endpoint, notification("heartbeat", [], [])).status_code == 200
    assert [n.type for n in subscriber.events("heartbeat")] == ["heartbeat"]


def test_it_answers_the_status_it_is_told_to_until_told_otherwise(subscriber: Subscriber) -> None:
    with subscriber.answering(503):
        assert post(subscriber.endpoint(), notification("heartbeat", [], [])).status_code == 503

    assert post(subscriber.endpoint(), notification("heartbeat", [], [])).status_code == 200
    assert subscriber.declined == [503]
    assert len(subscriber.events("heartbeat")) == 1


async def test_async_tests_can_wait_without_blocking_their_loop(subscriber: Subscriber) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        body = notification("event-notification", [5], [])
        signature = sign(SECRET.encode(), int(time.time()), body)
        await client.post(
            subscriber.endpoint(), content=body, headers={SIGNATURE_HEADER: signature}
        )

    assert await subscriber.wait_for_async(lambda got: got.event_numbers(), timeout=1) == [5]


def test_a_secret_shorter_than_the_platform_accepts_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        Subscriber("short")
