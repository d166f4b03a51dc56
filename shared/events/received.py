"""Reading a notification Bundle on the subscriber's side (the inverse of
`shared.events.notifications`): its SubscriptionStatus and its numbered events, each with the
resource the payload carried (full-resource) and the trace context of its change.

Spec: https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.events.notifications import EVENT_TRACEPARENT

KINDS = ("handshake", "heartbeat", "event-notification", "query-status", "query-event")


class MalformedNotification(ValueError):
    """The body is not a notification Bundle in the R4 backport form."""


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One numbered event of a notification."""

    subscription: str  # the sending Subscription's reference
    topic: str
    number: int
    focus: str | None  # the focus resource's full URL (absent for `empty` payloads)
    resource: dict[str, Any] | None  # the focus resource when the payload carried it
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class Notification:
    kind: str  # one of KINDS
    subscription: str
    topic: str
    events: tuple[ReceivedEvent, ...]
    events_since_start: int | None = None  # the subscription's event count, when given


def read_notification(bundle: Any) -> Notification:
    """The notification a Bundle carries; MalformedNotification when it carries none."""
    try:
        return _read(bundle)
    except (AttributeError, TypeError, KeyError) as error:  # an element of the wrong JSON type
        raise MalformedNotification("an element of the notification has the wrong type") from error


def _read(bundle: Any) -> Notification:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise MalformedNotification("not a notification Bundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        raise MalformedNotification("a notification Bundle has at least its status entry")
    status = entries[0].get("resource") or {}
    if not isinstance(status, dict) or status.get("resourceType") != "Parameters":
        raise MalformedNotification("the first entry must be the SubscriptionStatus Parameters")
    values = _parameters(status)
    kind = values.get("type", {}).get("valueCode")
    subscription = values.get("subscription", {}).get("valueReference", {}).get("reference")
    topic = values.get("topic", {}).get("valueCanonical") or ""
    if kind not in KINDS or not isinstance(subscription, str) or not subscription:
        raise MalformedNotification("the SubscriptionStatus lacks its type or subscription")
    # A history Bundle holds one entry per event, in event order, and several versions of
    # one resource share its fullUrl: each event takes the next entry of its focus.
    resources: dict[Any, list[Any]] = {}
    for entry in entries[1:]:
        if isinstance(entry, dict) and entry.get("fullUrl"):
            resources.setdefault(entry.get("fullUrl"), []).append(entry.get("resource"))
    events = tuple(
        _event(part, subscription, topic, resources)
        for part in status.get("parameter") or []
        if part.get("name") == "notification-event"
    )
    count = values.get("events-since-subscription-start", {}).get("valueString")
    since_start = (
        int(count) if isinstance(count, str) and count.isascii() and count.isdigit() else None
    )
    return Notification(kind, subscription, topic, events, since_start)


def _parameters(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        p["name"]: p
        for p in status.get("parameter") or []
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    }


def _event(
    element: dict[str, Any], subscription: str, topic: str, resources: dict[Any, list[Any]]
) -> ReceivedEvent:
    parts = {p.get("name"): p for p in element.get("part") or [] if isinstance(p, dict)}
    number = (parts.get("event-number") or {}).get("valueString", "")
    if not (isinstance(number, str) and number.isascii() and number.isdigit()):
        raise MalformedNotification("a notification-event lacks its event-number")
    focus = ((parts.get("focus") or {}).get("valueReference") or {}).get("reference")
    versions = resources.get(focus) if focus else None
    resource = versions.pop(0) if versions else None
    traceparent = next(
        (
            e.get("valueString")
            for e in element.get("extension") or []
            if e.get("url") == EVENT_TRACEPARENT
        ),
        None,
    )
    return ReceivedEvent(
        subscription=subscription,
        topic=topic,
        number=int(number),
        focus=focus,
        resource=resource if isinstance(resource, dict) else None,
        traceparent=traceparent,
    )
