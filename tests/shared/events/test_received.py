"""A subscriber reads back exactly what a publisher sent: `read_notification` is the inverse
of `notification_bundle` / `status_parameters` for every payload content, and anything that
is not a notification Bundle is refused as MalformedNotification (never another error,
which a receiver would turn into a 500)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shared.events.notifications import (
    EVENT_TRACEPARENT,
    NumberedEvent,
    notification_bundle,
    status_parameters,
)
from shared.events.received import MalformedNotification, read_notification
from shared.events.topics import TOPIC_BASE

BASE = "http://intake.test/fhir"
SUBSCRIPTION = f"{BASE}/Subscription/sub-1"
TOPIC = f"{TOPIC_BASE}/order-registered"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
AT = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def order_version(order_id: str, version: int = 1) -> NumberedEvent:
    """An event carrying version `version` of the order `order_id`."""
    content = {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "meta": {"versionId": str(version)},
        "status": "active",
        "intent": "order",
        "priority": "stat",
    }
    return NumberedEvent(
        number=0,
        resource_type="ServiceRequest",
        resource_id=order_id,
        version_id=version,
        occurred_at=AT,
        content=orjson.dumps(content).decode(),
    )


def numbered(event: NumberedEvent, number: int, traceparent: str | None = None) -> NumberedEvent:
    return NumberedEvent(
        number,
        event.resource_type,
        event.resource_id,
        event.version_id,
        event.occurred_at,
        event.content,
        traceparent,
    )


def sent(
    events: list[NumberedEvent], *, content: str = "full-resource", kind: str = "event-notification"
) -> dict[str, Any]:
    """The Bundle a publisher POSTs for `events`, as the subscriber parses its body."""
    status = status_parameters(
        subscription=SUBSCRIPTION,
        topic=TOPIC,
        status="active",
        kind=kind,
        events_since_start=max((e.number for e in events), default=0),
        events=events,
        content=content,
        base_url=BASE,
    )
    parsed: dict[str, Any] = orjson.loads(
        notification_bundle(status, events, content=content, base_url=BASE)
    )
    return parsed


# -- round trips ------------------------------------------------------------------------


def test_full_resource_events_come_back_numbered_with_their_resources() -> None:
    events = [numbered(order_version("o-1"), 7), numbered(order_version("o-2", 3), 8)]

    notification = read_notification(sent(events))

    assert notification.kind == "event-notification"
    assert notification.subscription == SUBSCRIPTION
    assert notification.topic == TOPIC
    assert [e.number for e in notification.events] == [7, 8]
    assert [e.focus for e in notification.events] == [
        f"{BASE}/ServiceRequest/o-1",
        f"{BASE}/ServiceRequest/o-2",
    ]
    first, second = notification.events
    assert first.resource == orjson.loads(events[0].content or "")
    assert second.resource is not None
    assert second.resource["id"] == "o-2"
    assert second.resource["meta"]["versionId"] == "3"
    assert {e.subscription for e in notification.events} == {SUBSCRIPTION}
    assert {e.topic for e in notification.events} == {TOPIC}


def test_each_event_keeps_its_own_trace_context() -> None:
    other = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    events = [
        numbered(order_version("o-1"), 1, TRACEPARENT),
        numbered(order_version("o-2"), 2, None),
        numbered(order_version("o-3"), 3, other),
    ]

    received = read_notification(sent(events)).events

    assert [e.traceparent for e in received] == [TRACEPARENT, None, other]


def test_id_only_events_name_their_focus_without_a_resource() -> None:
    received = read_notification(sent([numbered(order_version("o-1"), 4)], content="id-only"))

    (event,) = received.events
    assert event.number == 4
    assert event.focus == f"{BASE}/ServiceRequest/o-1"
    assert event.resource is None


def test_empty_events_carry_only_their_number() -> None:
    received = read_notification(sent([numbered(order_version("o-1"), 5)], content="empty"))

    (event,) = received.events
    assert (event.number, event.focus, event.resource) == (5, None, None)


def test_a_deleted_focus_arrives_as_its_url_without_a_resource() -> None:
    deleted = NumberedEvent(9, "ServiceRequest", "gone-1", 2, AT, None)

    (event,) = read_notification(sent([deleted])).events

    assert event.focus == f"{BASE}/ServiceRequest/gone-1"
    assert event.resource is None


@pytest.mark.parametrize("kind", ["handshake", "heartbeat"])
def test_handshakes_and_heartbeats_carry_no_events(kind: str) -> None:
    notification = read_notification(sent([], kind=kind))

    assert notification.kind == kind
    assert notification.subscription == SUBSCRIPTION
    assert notification.events == ()


def test_a_resource_is_matched_to_its_event_by_full_url_not_by_position() -> None:
    bundle = sent([numbered(order_version("o-1"), 1), numbered(order_version("o-2"), 2)])
    bundle["entry"][1:] = reversed(bundle["entry"][1:])

    first, second = read_notification(bundle).events

    assert first.resource is not None and first.resource["id"] == "o-1"
    assert second.resource is not None and second.resource["id"] == "o-2"


def test_two_versions_of_one_resource_in_one_notification_each_reach_their_event() -> None:
    # A subscriber that was down gets a Task accepted then completed in one notification:
    # both entries share the Task's fullUrl, and each event must keep its own version.
    events = [numbered(order_version("o-1", 2), 4), numbered(order_version("o-1", 3), 5)]

    first, second = read_notification(sent(events)).events

    assert first.resource is not None and first.resource["meta"]["versionId"] == "2"
    assert second.resource is not None and second.resource["meta"]["versionId"] == "3"


def test_a_focus_missing_from_the_entries_gives_no_resource() -> None:
    bundle = sent([numbered(order_version("o-1"), 1)])
    del bundle["entry"][1]

    (event,) = read_notification(bundle).events

    assert event.focus == f"{BASE}/ServiceRequest/o-1"
    assert event.resource is None


def test_the_traceparent_extension_is_the_documented_one() -> None:
    bundle = sent([numbered(order_version("o-1"), 1, TRACEPARENT)])
    element = next(
        p for p in bundle["entry"][0]["resource"]["parameter"] if p["name"] == "notification-event"
    )
    assert element["extension"] == [{"url": EVENT_TRACEPARENT, "valueString": TRACEPARENT}]


# -- malformed --------------------------------------------------------------------------


def _valid() -> dict[str, Any]:
    return sent([numbered(order_version("o-1"), 1)])


def _status(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = bundle["entry"][0]["resource"]["parameter"]
    return parameters


def _without(name: str) -> dict[str, Any]:
    bundle = _valid()
    bundle["entry"][0]["resource"]["parameter"] = [p for p in _status(bundle) if p["name"] != name]
    return bundle


def _with_value(name: str, key: str, value: Any) -> dict[str, Any]:
    bundle = _valid()
    for parameter in _status(bundle):
        if parameter["name"] == name:
            parameter[key] = value
    return bundle


def _event_number(value: Any) -> dict[str, Any]:
    bundle = _valid()
    element = next(p for p in _status(bundle) if p["name"] == "notification-event")
    element["part"] = [
        {"name": "event-number", "valueString": value} if part["name"] == "event-number" else part
        for part in element["part"]
    ]
    return bundle


def _first_entry(resource: Any) -> dict[str, Any]:
    bundle = _valid()
    bundle["entry"][0] = {"fullUrl": "urn:uuid:x", "resource": resource}
    return bundle


MALFORMED: dict[str, Any] = {
    "a JSON array": [],
    "a string": "Bundle",
    "another resource": {"resourceType": "Patient", "id": "p"},
    "a Bundle without entries": {"resourceType": "Bundle", "type": "history"},
    "a Bundle with an empty entry list": {"resourceType": "Bundle", "entry": []},
    "entries that are not objects": {"resourceType": "Bundle", "entry": ["x"]},
    "a first entry that is not Parameters": _first_entry({"resourceType": "Patient"}),
    "a first entry without a resource": _first_entry(None),
    "no type": _without("type"),
    "an unknown type": _with_value("type", "valueCode", "event"),
    "no subscription": _without("subscription"),
    "an empty subscription reference": _with_value(
        "subscription", "valueReference", {"reference": ""}
    ),
    "an event without its number": _event_number(None),
    "a negative event number": _event_number("-1"),
    "a decimal event number": _event_number("1.5"),
    "a non-ASCII digit event number": _event_number("\u0663"),
    "an integer event number": _event_number(3),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_what_is_not_a_notification_is_refused_as_malformed(body: Any) -> None:
    with pytest.raises(MalformedNotification):
        read_notification(copy.deepcopy(body))


def _odd_shape(where: str) -> dict[str, Any]:
    bundle = _valid()
    parameters: list[Any] = _status(bundle)
    element = next(p for p in parameters if p["name"] == "notification-event")
    if where == "parameter":
        parameters.append("not-a-parameter")
    elif where == "subscription":
        parameters[0]["valueReference"] = SUBSCRIPTION
    elif where == "focus":
        element["part"][-1]["valueReference"] = f"{BASE}/ServiceRequest/o-1"
    elif where == "extension":
        element["extension"] = ["not-an-extension"]
    elif where == "fullUrl":
        bundle["entry"][1]["fullUrl"] = ["not", "a", "url"]
    return bundle


@pytest.mark.parametrize("where", ["parameter", "subscription", "focus", "extension", "fullUrl"])
def test_elements_of_the_wrong_json_type_are_refused_as_malformed(where: str) -> None:
    with pytest.raises(MalformedNotification):
        read_notification(_odd_shape(where))
