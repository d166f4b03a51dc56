"""No PHI in logs, traces or error messages, across the running platform: a canary
patient (name, birth date, MRN) goes through every service as real processes -- creates,
searches by name through the front door, malformed writes that quote it, a transaction
whose events reach assignment and sla, a report -- with every process logging at DEBUG
and printing its spans. Then not one log line, span or error answer may name it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from scripts.local_platform import PROCESSES
from services.intake.tests.builders import accession, bundle, medical_record_number, post_entry
from tests.e2e.loop import (
    created,
    facility,
    privileges,
    radiologist,
    report,
    tasks_of,
    wait_until,
)
from tests.e2e.platform import E2EPlatform

FAMILY = "Quixtrapple"
GIVEN = "Zebulonia"
BIRTH_DATE = "1917-03-29"
MRN = "MRN-CANARY-7Q4X9K"
CANARIES = (FAMILY, GIVEN, BIRTH_DATE, MRN)


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return {
        "LOG_LEVEL": "DEBUG",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # milliseconds: spans printed soon after they end
    }


def canary_patient(**elements: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [medical_record_number(MRN)],
        "name": [{"family": FAMILY, "given": [GIVEN]}],
        "birthDate": BIRTH_DATE,
        "address": [{"use": "home", "state": "TX"}],
        **elements,
    }


def canary_order(requester: str) -> dict[str, Any]:
    """The canary patient and a CT head order, as one transaction."""
    patient_url = f"urn:uuid:{uuid4()}"
    order = {
        "resourceType": "ServiceRequest",
        "identifier": [accession(f"ACC-{uuid4().hex[:12]}")],
        "status": "active",
        "intent": "order",
        "priority": "stat",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70450"}]},
        "subject": {"reference": patient_url, "display": f"{GIVEN} {FAMILY}"},
        "requester": {"reference": requester},
    }
    return bundle("transaction", post_entry(canary_patient(), patient_url), post_entry(order))


class Answers:
    """Every answer the test received, to search the error messages too."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def record(self, response: httpx.Response) -> None:
        """An httpx response hook."""
        response.read()
        if response.status_code >= 400:
            self.errors.append(response.text)


def _searches_by_name(client: httpx.Client) -> None:
    for params in (
        {"name": FAMILY},
        {"family": FAMILY, "given": GIVEN, "birthdate": BIRTH_DATE},
        {"identifier": MRN},
        {"name:contains": GIVEN},
    ):
        response = client.get("/Patient", params=params)
        assert response.status_code == 200, response.text
        assert response.json().get("total", 1) >= 1
    form = {"family": FAMILY, "birthdate": BIRTH_DATE}
    assert client.post("/Patient/_search", data=form).status_code == 200


def _malformed_writes(client: httpx.Client) -> None:
    """Writes and searches the server refuses, each quoting the canary somewhere."""
    client.post("/Patient", json=canary_patient(birthDate=f"{FAMILY}-{BIRTH_DATE}"))
    client.post("/Patient", json=canary_patient(name=f"{GIVEN} {FAMILY}"))
    client.post("/Patient", json=canary_patient(gender=FAMILY))
    client.post("/Patient", json={**canary_patient(), "resourceType": FAMILY})
    client.put("/Patient/not-this-one", json=canary_patient(id="another-one"))
    client.get("/Patient", params={"nmae": FAMILY})  # a typo: its value is not echoed
    client.get("/Patient", params={"birthdate": f"xx{BIRTH_DATE}{FAMILY}"})
    client.get("/ServiceRequest", params={"subject:Patient.name": FAMILY})
    client.post("/", json=bundle("transaction", post_entry(canary_patient(birthDate=GIVEN))))


def _the_loop(client: httpx.Client) -> None:
    """The canary's order through intake, its Task at assignment, a report at reporting,
    the turnaround at sla."""
    site = facility(client, "TX")
    reader = radiologist(client, "Okafor", "TX")
    privileges(client, reader, site)
    placed = client.post("/", json=canary_order(site))
    assert placed.status_code == 200, placed.text
    location = placed.json()["entry"][1]["response"]["location"]
    order_id = location.split("ServiceRequest/")[1].split("/")[0]
    task = wait_until(lambda: tasks_of(client, order_id), what="the canary's Task")[0]
    subject = {**task["for"], "display": f"{GIVEN} {FAMILY}"}
    created(client.post("/DiagnosticReport", json=report(order_id, subject, reader)))
    wait_until(lambda: tasks_of(client, order_id)[0]["status"] == "completed", what="the Task done")
    turnaround = client.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})
    assert turnaround.status_code == 200, turnaround.text


@pytest.fixture(scope="module")
def telemetry(platform: E2EPlatform) -> Iterator[tuple[dict[str, str], list[str]]]:
    """Each process's whole output (logs and printed spans) after the canary went through
    the platform and every process stopped; and the error answers received."""
    answers = Answers()
    with platform.client() as client:
        client.event_hooks["response"] = [answers.record]
        created(client.post("/Patient", json=canary_patient()))
        _searches_by_name(client)
        _malformed_writes(client)
        _the_loop(client)
    platform.local.stop_all()  # flushes every span still batched
    outputs = {}
    for name in PROCESSES:
        log_path = platform.local.log_path(name)
        assert isinstance(log_path, Path)
        outputs[name] = log_path.read_text(errors="replace")
    yield outputs, answers.errors


def test_no_log_line_or_span_of_any_process_names_the_patient(
    telemetry: tuple[dict[str, str], list[str]],
) -> None:
    outputs, _ = telemetry
    leaks = {
        name: [line for line in output.splitlines() if any(c in line for c in CANARIES)]
        for name, output in outputs.items()
    }
    assert not any(leaks.values()), {name: lines[:5] for name, lines in leaks.items() if lines}


def test_every_process_logged_and_traced_what_it_did(
    telemetry: tuple[dict[str, str], list[str]],
) -> None:
    outputs, _ = telemetry
    for name, output in outputs.items():
        assert '"logger": "teleradiology.access"' in output, name
        assert '"kind": "SpanKind.SERVER"' in output, name
    searches = outputs["intake"] + outputs["gateway"]
    assert re.search(r'"http\.url": "[^"]*/fhir/Patient"', searches)
    assert '"http.route": "/fhir/Patient"' in outputs["intake"]
    assert '"db.statement"' in outputs["intake"]


def test_no_error_answer_names_the_patient(telemetry: tuple[dict[str, str], list[str]]) -> None:
    _, errors = telemetry
    assert len(errors) >= 8
    leaks = [text for text in errors if any(c in text for c in CANARIES)]
    assert not leaks, leaks[:5]
