"""Intake, assignment and reporting running in-process on the test's databases, reporting
reaching the other two through their ASGI apps (at INTAKE_URL and ASSIGNMENT_URL), and
the records a critical-result or HL7 v2 test starts from: a patient and facility at intake,
a radiologist and the order's read Task at assignment, a report at reporting."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from services.assignment.tasks import READ_TASK_SYSTEM
from services.intake.tests.builders import facility, facility_extension, order, registered_patient
from services.reporting.critical import actionable_finding
from services.reporting.settings import ReportingSettings
from shared.settings import ServiceSettings
from tests.fixtures import DEV_TOKEN, client_for, running_app
from tests.support.rest import create

INTAKE_URL = "http://intake.test"
ASSIGNMENT_URL = "http://assignment.test"
OPERATIONS = "Organization/operations"
LOINC = "http://loinc.org"


class ByHost(httpx.AsyncBaseTransport):
    """Sends each request to the transport of its host (an in-process app, or not)."""

    def __init__(self, transports: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.transports = transports

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transports[request.url.host].handle_async_request(request)


class Unreachable(httpx.AsyncBaseTransport):
    """A service that does not answer."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("unreachable", request=request)


@dataclass
class Order:
    """An order at intake read by a radiologist at assignment."""

    id: str
    patient: str
    facility: str
    role: str  # the radiologist's PractitionerRole (the read Task's owner)
    practitioner: str
    accession: str


@dataclass
class Platform:
    intake_app: FastAPI
    assignment_app: FastAPI
    reporting_app: FastAPI
    intake: httpx.AsyncClient
    assignment: httpx.AsyncClient
    reporting: httpx.AsyncClient

    async def ordered_and_assigned(
        self,
        *,
        provider: str | None = "Practitioner/dr-ordering",
        accession: str = "ACC-7001",
        npi: str = "1234567893",
        mrn: str = "MRN-1001",
    ) -> Order:
        """A patient's CT head order by `provider` (None: by the facility itself) at a
        facility, its read Task owned by a radiologist."""
        patient = await create(self.intake, registered_patient(mrn))
        place = await create(self.intake, facility(npi))
        patient_ref, facility_ref = f"Patient/{patient['id']}", f"Organization/{place['id']}"
        if provider:
            body = order(
                patient_ref,
                provider,
                accession_number=accession,
                extension=facility_extension(facility_ref),
                priority="stat",
            )
        else:
            body = order(patient_ref, facility_ref, accession_number=accession, priority="stat")
        placed = await create(self.intake, body)
        practitioner = await create(
            self.assignment,
            {"resourceType": "Practitioner", "active": True, "name": [{"family": "Osei"}]},
        )
        practitioner_ref = f"Practitioner/{practitioner['id']}"
        role = await create(
            self.assignment,
            {
                "resourceType": "PractitionerRole",
                "active": True,
                "practitioner": {"reference": practitioner_ref},
                "organization": {"reference": facility_ref},
            },
        )
        role_ref = f"PractitionerRole/{role['id']}"
        await create(
            self.assignment,
            {
                "resourceType": "Task",
                "identifier": [{"system": READ_TASK_SYSTEM, "value": placed["id"]}],
                "status": "in-progress",
                "intent": "order",
                "code": {
                    "coding": [
                        {"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}
                    ]
                },
                "focus": {"reference": f"ServiceRequest/{placed['id']}"},
                "for": {"reference": patient_ref},
                "requester": {"reference": facility_ref},
                "owner": {"reference": role_ref},
            },
        )
        return Order(placed["id"], patient_ref, facility_ref, role_ref, practitioner_ref, accession)

    def reach_all(self, down: tuple[str, ...] = ()) -> None:
        """Reporting reaches intake and assignment in-process, except the hosts `down`
        (e.g. "assignment.test"), which do not answer."""
        hosts: dict[str, httpx.AsyncBaseTransport] = {
            "intake.test": httpx.ASGITransport(app=self.intake_app),
            "assignment.test": httpx.ASGITransport(app=self.assignment_app),
        }
        reach(self.reporting_app, hosts | dict.fromkeys(down, Unreachable()))

    async def report(
        self, read: Order, *, status: str = "final", category: int | None = 1, **fields: Any
    ) -> dict[str, Any]:
        """The radiologist's report of `read` (flagged with `category`), as stored."""
        return await create(
            self.reporting, report_of(read, status=status, category=category, **fields)
        )


def report_of(
    read: Order, *, status: str = "final", category: int | None = 1, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "category": [{"coding": [{"system": LOINC, "code": "LP29684-5", "display": "Radiology"}]}],
        "code": {"coding": [{"system": LOINC, "code": "24725-4", "display": "CT Head"}]},
        "subject": {"reference": read.patient},
        "basedOn": [{"reference": f"ServiceRequest/{read.id}"}],
        "imagingStudy": [{"reference": "ImagingStudy/study-1"}],
        "effectiveDateTime": "2026-11-29T01:00:00Z",
        "issued": "2026-11-29T01:30:00Z",
        "resultsInterpreter": [{"reference": read.role}],
        "conclusion": "Acute subdural haematoma, 9 mm, with midline shift.",
        "conclusionCode": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "95453001",
                        "display": "Subdural haemorrhage",
                    }
                ]
            }
        ],
        "presentedForm": [
            {
                "contentType": "text/plain",
                "data": "RklORElOR1M6IEFjdXRlIHN1YmR1cmFsIGhhZW1hdG9tYS4=",
            }
        ],
    }
    if category is not None:
        body["extension"] = [actionable_finding(category)]
    return body | fields


async def start_platform(
    make_settings: Callable[..., ServiceSettings], **overrides: Any
) -> AsyncIterator[Platform]:
    """The three apps; `overrides` change reporting's settings (by default its worker
    sleeps: the tests sweep themselves, at the times they choose)."""
    base = make_settings("reporting", intake_url=INTAKE_URL, assignment_url=ASSIGNMENT_URL)
    defaults = {"critical_sweep_seconds": 3600.0, "operations_organization": OPERATIONS}
    reporting_settings = ReportingSettings.model_validate(base.model_dump() | defaults | overrides)
    async with (
        running_app("intake", make_settings("intake")) as intake_app,
        running_app("assignment", make_settings("assignment")) as assignment_app,
        running_app("reporting", reporting_settings) as reporting_app,
        client_for(intake_app) as intake,
        client_for(assignment_app) as assignment,
        client_for(reporting_app) as reporting,
    ):
        await reporting_app.state.peers.client.aclose()
        platform = Platform(
            intake_app, assignment_app, reporting_app, intake, assignment, reporting
        )
        platform.reach_all()
        yield platform


def reach(app: FastAPI, hosts: dict[str, httpx.AsyncBaseTransport]) -> None:
    """From now on `app`'s calls to other services go to `hosts` (host -> transport)."""
    app.state.peers.client = httpx.AsyncClient(
        transport=ByHost(hosts),
        headers={"Authorization": f"Bearer {DEV_TOKEN}", "Accept": "application/fhir+json"},
    )
