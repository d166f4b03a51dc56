"""Reading back the AuditEvents a test's requests left, and calling as a chosen principal.

The audit log is append-only: on PostgreSQL every test of a session writes to the same one.
A test reads back its own events by something only it made (its patient, its order).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request

from shared.audit.balp import CLIENT_ID_SYSTEM
from shared.audit.resource import AUDIT_EVENT
from shared.auth import DEV_PRINCIPAL, Principal, authenticate
from shared.fhir.registry import Registry
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService

AUDIT_REGISTRY = Registry(service="audit", definitions=(AUDIT_EVENT,))
# A person behind a client confined to no tenant and no role ceiling (shared/roles.py): the
# audit tests write every type with it and expect the user named in each event.
OPERATOR = Principal(
    client_id="ops-console",
    scopes=frozenset({"system/*.cruds"}),
    role="system",
    fhir_user="Practitioner/ops-1",
    user="idp|ops-1",
)
AUDITOR = Principal(
    client_id="audit-desk",
    scopes=frozenset({"system/AuditEvent.rs"}),
    role="auditor",
    user="idp|auditor-1",
)


@contextmanager
def calling_as(app: FastAPI, principal: Principal) -> Iterator[None]:
    """Every request to `app` in the block is authenticated as `principal`."""

    async def as_principal(request: Request) -> Principal:
        request.state.principal = principal
        return principal

    app.dependency_overrides[authenticate] = as_principal
    try:
        yield
    finally:
        del app.dependency_overrides[authenticate]


async def audit_events(app: FastAPI, *criteria: tuple[str, str]) -> list[dict[str, Any]]:
    """The AuditEvents in `app`'s audit log matching the search `criteria`, oldest first."""
    async with app.state.audit.database.transaction() as session:
        fhir = FhirService(
            session=session,
            registry=AUDIT_REGISTRY,
            principal=DEV_PRINCIPAL,
            limits=SearchLimits(100, 1000),
            base_url="http://testserver/fhir",
        )
        result = await fhir.search("AuditEvent", [*criteria, ("_count", "1000"), ("_sort", "date")])
    return [stored.resource() for stored in result.matches]


async def the_event(app: FastAPI, *criteria: tuple[str, str]) -> dict[str, Any]:
    """The one AuditEvent matching `criteria`."""
    events = await audit_events(app, *criteria)
    assert len(events) == 1, [subtype(e) for e in events]
    return events[0]


def subtype(event: dict[str, Any]) -> str:
    return str(event["subtype"][0]["code"])


def patients(event: dict[str, Any]) -> set[str]:
    """The patients an event names."""
    return {
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "1"
    }


def objects(event: dict[str, Any]) -> list[str]:
    """The resources an event names as read or written."""
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == "4"
    ]


def query(event: dict[str, Any]) -> str | None:
    """The search an event records, decoded."""
    for entity in event.get("entity", []):
        if entity.get("role", {}).get("code") == "24":
            return base64.b64decode(entity["query"]).decode()
    return None


def agent(event: dict[str, Any], dicom_or_v3_code: str) -> dict[str, Any]:
    """The agent of type 110153 (client), 110152 (server) or IRCP (user)."""
    found = [a for a in event["agent"] if a["type"]["coding"][0]["code"] == dicom_or_v3_code]
    assert len(found) == 1, event["agent"]
    return found[0]


def client_id(event: dict[str, Any]) -> str | None:
    who = agent(event, "110153")["who"]
    identifier = who.get("identifier") or {}
    assert identifier.get("system", CLIENT_ID_SYSTEM) == CLIENT_ID_SYSTEM
    return identifier.get("value")
