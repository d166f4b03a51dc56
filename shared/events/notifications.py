"""Notification Bundles in the R4 backport form: a `history` Bundle whose first entry is a
Parameters (BackportSubscriptionStatusR4), followed by the focus resources as the payload
content asks -- nothing (`empty`), their URLs (`id-only`) or the resources
(`full-resource`). The same shape answers `$events`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

import orjson

from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.service import format_instant, now_utc
from shared.fhir.storage.records import StoredResource

_METHOD = {1: "POST"}
# On each notification-event: the W3C trace context of the change, so that a subscriber
# handling the events of one notification one by one continues each change's own trace.
EVENT_TRACEPARENT = f"{CANONICAL_BASE}/StructureDefinition/notification-event-traceparent"


@dataclass(frozen=True, slots=True)
class NumberedEvent:
    number: int
    resource_type: str
    resource_id: str
    version_id: int
    occurred_at: datetime
    content: str | None  # the version's JSON; None when it is a deletion
    traceparent: str | None = None


def numbered_event(row: Any, version: StoredResource | None) -> NumberedEvent:
    """The event of a `subscription_event` row with the version it names (None if gone)."""
    return NumberedEvent(
        row.event_number,
        row.resource_type,
        row.resource_id,
        row.version_id,
        row.occurred_at,
        None if version is None or version.deleted else version.content,
        row.traceparent,
    )


def status_parameters(
    *,
    subscription: str,
    topic: str,
    status: str,
    kind: str,
    events_since_start: int,
    events: list[NumberedEvent],
    content: str,
    base_url: str,
    error: str | None = None,
) -> dict[str, Any]:
    """The SubscriptionStatus of a notification, `$status` or `$events` answer."""
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": subscription}},
        {"name": "topic", "valueCanonical": topic},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    for event in events:
        part: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": format_instant(event.occurred_at)},
        ]
        if content != "empty":
            focus = f"{base_url}/{event.resource_type}/{event.resource_id}"
            part.append({"name": "focus", "valueReference": {"reference": focus}})
        element: dict[str, Any] = {"name": "notification-event", "part": part}
        if event.traceparent:
            element["extension"] = [{"url": EVENT_TRACEPARENT, "valueString": event.traceparent}]
        parameters.append(element)
    if error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": error}})
    return {"resourceType": "Parameters", "parameter": parameters}


def notification_bundle(
    status: dict[str, Any], events: list[NumberedEvent], *, content: str, base_url: str
) -> bytes:
    """The Bundle POSTed to a subscriber (or returned by `$events`)."""
    entries: list[bytes] = [orjson.dumps({"fullUrl": f"urn:uuid:{uuid4()}", "resource": status})]
    if content != "empty":
        for event in events:
            path = f"{event.resource_type}/{event.resource_id}"
            element: dict[str, Any] = {
                "fullUrl": f"{base_url}/{path}",
                "request": {
                    "method": "DELETE"
                    if event.content is None
                    else _METHOD.get(event.version_id, "PUT"),
                    "url": event.resource_type if event.version_id == 1 else path,
                },
                "response": {
                    "status": "204"
                    if event.content is None
                    else "201"
                    if event.version_id == 1
                    else "200",
                    "etag": f'W/"{event.version_id}"',
                },
            }
            encoded = orjson.dumps(element)
            if content == "full-resource" and event.content is not None:
                encoded = encoded[:-1] + b',"resource":' + event.content.encode() + b"}"
            entries.append(encoded)
    head = orjson.dumps(
        {
            "resourceType": "Bundle",
            "id": str(uuid4()),
            "type": "history",
            "timestamp": format_instant(now_utc()),
        }
    )
    return head[:-1] + b',"entry":[' + b",".join(entries) + b"]}"
