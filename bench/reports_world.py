"""What bench/reports_bench.py runs against: reporting in-process on a PostgreSQL database of
its own, the same app with reporting's rules switched off (the baseline), assignment stood in
for at the HTTP level, and the final reports written.

Assignment's stand-in is an httpx transport inside reporting's peer client: it answers the two
lookups a report write makes -- `GET Task?focus=ServiceRequest/<order>` and
`GET PractitionerRole/<id>` -- from prebuilt JSON, at once. So the figures are reporting's
own cost (the HTTP client, the JSON, reporting's rules), not assignment's: a real assignment
adds its search and read (a few ms each on this machine, see the intake benchmark's reads).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any
from uuid import uuid4

import httpx
import orjson
from fastapi import FastAPI

from services.reporting.resources import REGISTRY
from services.reporting.settings import ReportingSettings
from shared.app import create_service_app
from shared.fhir.registry import Registry, ResourceRules

ASSIGNMENT_URL = "http://assignment.bench"
OWNER_ROLE = "PractitionerRole/bench-reader"
SIGNER = "Practitioner/bench-radiologist"
GROUP = "Organization/bench-group"
FACILITY = "Organization/bench-facility"
DEV_TOKEN = "bench-reports-dev-token"
EVENTS_SECRET = "bench-reports-events-secret-0123456789abcdef"
LOINC = "http://loinc.org"
# About a page of findings, as a real CT head report (the PDF renders all of it).
REPORT_TEXT = (
    "<p>Technique: non-contrast CT of the head, axial 5 mm.</p>"
    "<p>Findings: no intracranial haemorrhage, mass effect or midline shift. Grey-white "
    "differentiation is preserved. The ventricles and sulci are normal for age. No "
    "extra-axial collection. The visualised paranasal sinuses and mastoid air cells are "
    "clear. No acute osseous abnormality.</p>" * 3 + "<p>Impression: no acute abnormality.</p>"
)


def settings(url: str, audit_url: str) -> ReportingSettings:
    """What a test app gets (tests/fixtures.py make_settings), without rate limits, its
    critical-result worker asleep (no report here is flagged), tracing off."""
    values: dict[str, Any] = dict(
        service_name="reporting",
        environment="development",
        database_url=url,
        audit_database_url=audit_url,
        dev_auth_token=DEV_TOKEN,
        service_token=DEV_TOKEN,
        events_signing_secret=EVENTS_SECRET,
        events_enabled=False,
        rate_limit_per_second=0,
        log_level="WARNING",
        otel_traces_exporter="none",
        assignment_url=ASSIGNMENT_URL,
        critical_sweep_seconds=3600.0,
    )
    return ReportingSettings(**values)


def baseline_app(resolved: ReportingSettings) -> FastAPI:
    """Reporting's registry served by the same generic FHIR store, with DiagnosticReport's
    rules switched off: validation against the R4 model, index rows, history, access labels
    (none), outbox and audit as for any type -- no Task check, content check, PDF or
    signature."""
    definitions = tuple(
        replace(d, rules=ResourceRules()) if d.type == "DiagnosticReport" else d
        for d in REGISTRY.definitions
    )
    registry = Registry(
        service=REGISTRY.service,
        definitions=definitions,
        topics=REGISTRY.topics,
        operations=REGISTRY.operations,
    )
    return create_service_app(
        registry=registry, settings=resolved, description="bench: reporting without its rules"
    )


class Assignment:
    """Assignment's answers to reporting's lookups, counted."""

    def __init__(self) -> None:
        self.calls = 0
        self.role = orjson.dumps(
            {
                "resourceType": "PractitionerRole",
                "id": OWNER_ROLE.split("/")[1],
                "active": True,
                "practitioner": {"reference": SIGNER},
                "organization": {"reference": GROUP},
            }
        )

    def task_bundle(self, focus: str) -> bytes:
        task = {
            "resourceType": "Task",
            "id": f"read-{focus.rsplit('/', 1)[-1]}",
            "status": "in-progress",
            "intent": "order",
            "code": {
                "coding": [
                    {"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}
                ]
            },
            "focus": {"reference": focus},
            "requester": {"reference": FACILITY},
            "owner": {"reference": OWNER_ROLE},
        }
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": task, "search": {"mode": "match"}}],
        }
        return orjson.dumps(bundle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        path = request.url.path
        if path.endswith("/Task"):
            body = self.task_bundle(request.url.params.get("focus", ""))
        elif path.endswith(f"/{OWNER_ROLE}"):
            body = self.role
        else:
            return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})
        return httpx.Response(200, content=body, headers={"content-type": "application/fhir+json"})


def reach_assignment(app: FastAPI, assignment: Assignment) -> None:
    """From now on the app's calls to assignment are answered by `assignment`."""
    app.state.peers.client = httpx.AsyncClient(
        transport=httpx.MockTransport(assignment.handle),
        headers={"Authorization": f"Bearer {DEV_TOKEN}", "Accept": "application/fhir+json"},
    )


def final_report(order_id: str | None = None) -> dict[str, Any]:
    """A complete final CT head report of a new order, read by the Task's owner."""
    order_id = order_id or str(uuid4())
    text = base64.b64encode(REPORT_TEXT.encode()).decode()
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": LOINC, "code": "LP29684-5", "display": "Radiology"}]}],
        "code": {"coding": [{"system": LOINC, "code": "24725-4", "display": "CT Head"}]},
        "subject": {"reference": "Patient/bench-patient"},
        "basedOn": [{"reference": f"ServiceRequest/{order_id}"}],
        "imagingStudy": [{"reference": f"ImagingStudy/study-{order_id}"}],
        "effectiveDateTime": "2026-11-29T01:00:00Z",
        "resultsInterpreter": [{"reference": OWNER_ROLE}],
        "conclusion": "No acute intracranial abnormality.",
        "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "281900007"}]}],
        "presentedForm": [{"contentType": "text/html", "data": text, "title": "Report"}],
    }
