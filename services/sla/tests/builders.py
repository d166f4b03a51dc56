"""What sla hears of, for tests: each resource version that marks a milestone of an order,
stamped with its `meta.lastUpdated` (minutes after T0) -- the time sla records. Each builder
returns a fresh dict and stores nothing.

sla's own tables (order_clock, order_milestone) are not emptied between PostgreSQL tests:
tests/support/databases.truncate_all empties only the shared FHIR store. Each test therefore
uses orders of its own (`new_order_id`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from shared.fhir.service import format_instant

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _versioned(resource: dict[str, Any], minutes: float, version: int) -> dict[str, Any]:
    resource["meta"] = {"versionId": str(version), "lastUpdated": format_instant(at(minutes))}
    return resource


def order(order_id: str, *, minutes: float = 0, priority: str = "stat") -> dict[str, Any]:
    body = {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "active",
        "priority": priority,
    }
    return _versioned(body, minutes, 1)


def study(order_id: str, *, minutes: float, status: str = "available") -> dict[str, Any]:
    body = {
        "resourceType": "ImagingStudy",
        "id": f"study-{order_id}",
        "status": status,
        "basedOn": [{"reference": f"ServiceRequest/{order_id}"}],
    }
    return _versioned(body, minutes, 1)


def task(
    order_id: str,
    *,
    minutes: float,
    status: str = "requested",
    owner: str | None = "PractitionerRole/reader-1",
    deadline: float = 60,
    version: int = 1,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"task-{order_id}",
        "status": status,
        "priority": "stat",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": f"ServiceRequest/{order_id}"},
        "restriction": {"period": {"end": format_instant(at(deadline))}},
    }
    if owner:
        body["owner"] = {"reference": owner}
    return _versioned(body, minutes, version)


def diagnostic_report(
    order_id: str, *, minutes: float, status: str = "final", version: int = 1
) -> dict[str, Any]:
    body = {
        "resourceType": "DiagnosticReport",
        "id": f"report-{order_id}",
        "status": status,
        "basedOn": [{"reference": f"ServiceRequest/{order_id}"}],
    }
    return _versioned(body, minutes, version)


def new_order_id() -> str:
    return f"order-{uuid4().hex[:12]}"
