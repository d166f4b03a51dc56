"""The reporting service's tests run with assignment in-process on the test's databases
(SQLite or PostgreSQL): reporting's peer client reaches the assignment app through an ASGI
transport at ASSIGNMENT_URL, and assignment's `$eligibility` reads orders and patients
from a stand-in for intake. Builders return fresh dicts."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
from fastapi import FastAPI

from services.assignment.tasks import READ_TASK_SYSTEM
from services.assignment.tests.builders import patient_in
from services.assignment.tests.routing_support import new_order as routed_order
from tests.fixtures import DEV_TOKEN
from tests.support.rest import create

ASSIGNMENT_URL = "http://assignment.test"
REPORT_TEXT = "<p>Findings: no haemorrhage, no mass effect.</p><p>Impression: normal.</p>"
CONCLUSION = "No acute intracranial abnormality."


class Intake:
    """What assignment asks intake for: the orders and patients of the test."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {"Patient/patient-1": patient_in("TX")}

    def add_order(self, order_id: str) -> None:
        self.resources[f"ServiceRequest/{order_id}"] = routed_order(order_id)

    async def read(self, service: str, reference: str) -> dict[str, Any] | None:
        return self.resources.get(reference)

    async def readable_by(self, service: str, reference: str, authorization: str) -> bool:
        return reference in self.resources

    async def aclose(self) -> None:
        """As the app closes its peers at shutdown."""


@dataclass
class Services:
    assignment: httpx.AsyncClient
    reporting: httpx.AsyncClient
    assignment_app: FastAPI
    reporting_app: FastAPI
    intake: Intake = field(default_factory=Intake)

    async def radiologist(self, group: str | None = None) -> tuple[str, str]:
        """A Practitioner and a PractitionerRole of theirs at `group` (by default an
        organization of their own); both references."""
        practitioner = await create(
            self.assignment,
            {"resourceType": "Practitioner", "active": True, "name": [{"family": "Osei"}]},
        )
        organization = group or f"Organization/group-{uuid4().hex[:8]}"
        role = await create(
            self.assignment,
            {
                "resourceType": "PractitionerRole",
                "active": True,
                "practitioner": {"reference": f"Practitioner/{practitioner['id']}"},
                "organization": {"reference": organization},
            },
        )
        return f"PractitionerRole/{role['id']}", f"Practitioner/{practitioner['id']}"

    async def read_task(
        self, order_id: str, owner: str | None, status: str = "requested"
    ) -> dict[str, Any]:
        """The order's read Task at assignment, owned by `owner` (None: unassigned)."""
        self.intake.add_order(order_id)
        task: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [{"system": READ_TASK_SYSTEM, "value": order_id}],
            "status": status,
            "intent": "order",
            "focus": {"reference": f"ServiceRequest/{order_id}"},
            "for": {"reference": "Patient/patient-1"},
            "requester": {"reference": "Organization/facility-1"},
        }
        if owner:
            task["owner"] = {"reference": owner}
        return await create(self.assignment, task)

    async def reach_assignment_through(self, transport: httpx.AsyncBaseTransport) -> None:
        """From now on, reporting's calls to assignment go through `transport`."""
        peers = self.reporting_app.state.peers
        await peers.client.aclose()
        peers.client = peer_client(transport)


def peer_client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        base_url=ASSIGNMENT_URL,
        headers={"Authorization": f"Bearer {DEV_TOKEN}", "Accept": "application/fhir+json"},
    )


def text_form(text: str, *, title: str | None = None, html: bool = True) -> dict[str, Any]:
    form: dict[str, Any] = {
        "contentType": "text/html" if html else "text/plain",
        "data": base64.b64encode(text.encode()).decode(),
    }
    if title:
        form["title"] = title
    return form


def report(*orders: str, interpreter: str | None, status: str = "final") -> dict[str, Any]:
    """A complete radiology report of `orders` (its basedOn), read by `interpreter`."""
    body: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "category": [
            {
                "coding": [
                    {"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "24725-4", "display": "CT Head"}]
        },
        "subject": {"reference": "Patient/patient-1"},
        "basedOn": [{"reference": f"ServiceRequest/{o}"} for o in orders],
        "imagingStudy": [{"reference": "ImagingStudy/study-1"}],
        "conclusion": CONCLUSION,
        "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "281900007"}]}],
        "presentedForm": [text_form(REPORT_TEXT, title="Report")],
    }
    if interpreter:
        body["resultsInterpreter"] = [{"reference": interpreter}]
    return body


def refused(response: httpx.Response, status: int, expression: str | None = None) -> None:
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if expression:
        assert outcome["issue"][0]["expression"] == [expression]


def expressions(response: httpx.Response) -> set[str]:
    return {e for issue in response.json()["issue"] for e in issue.get("expression", [])}


def new_order() -> str:
    return f"order-{uuid4().hex[:8]}"
