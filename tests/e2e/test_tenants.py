"""Tenants across the whole platform, through the front door, with real tokens from the
token endpoint (the development clients of deploy/dev/auth): two facilities, a
radiologist and an auditor.

Mercy's order is assigned to Dr Chen (the only radiologist licensed in Texas, with
privileges at Mercy and reading for it); assignment's Task event makes intake open the order to her. Harbor
sees none of it -- not the order, the patient, the Task, the report nor the turnaround --
and the auditor finds who read Mercy's patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scripts.dev_token import request_token
from tests.e2e.loop import (
    NPI,
    created,
    licence,
    place_order,
    privileges,
    report,
    tasks_of,
    wait_until,
)
from tests.e2e.platform import E2EPlatform

FACILITIES = {"mercy": "1003000126", "harbor": "1013000133"}  # the clients' NPIs
CHEN_NPI = "1900012174"


def _organization(admin: httpx.Client, name: str, npi: str, state: str) -> str:
    body = {
        "resourceType": "Organization",
        "name": name,
        "identifier": [{"system": NPI, "value": npi}],
        "address": [{"state": state}],
    }
    return f"Organization/{created(admin.post('/Organization', json=body))['id']}"


def _chen(admin: httpx.Client, mercy: str) -> tuple[str, str]:
    practitioner = {
        "resourceType": "Practitioner",
        "active": True,
        "identifier": [{"system": NPI, "value": CHEN_NPI}],
        "name": [{"family": "Chen", "given": ["Mei"]}],
        "qualification": [licence("TX")],
    }
    chen = f"Practitioner/{created(admin.post('/Practitioner', json=practitioner))['id']}"
    return chen, privileges(admin, chen, mercy)


@pytest.fixture(scope="module")
def world(platform: E2EPlatform) -> Iterator[dict[str, Any]]:
    """The organizations and the radiologist the development clients name, a client per
    development client, and Mercy's order with its Task."""
    with platform.client() as admin:
        mercy = _organization(admin, "Mercy General Hospital", FACILITIES["mercy"], "TX")
        harbor = _organization(admin, "Harbor Imaging Center", FACILITIES["harbor"], "CA")
        chen, role = _chen(admin, mercy)
    gateway = platform.fhir_base.removesuffix("/fhir")
    token_url = f"{platform.local.public_base_url}/auth/token"

    def client(client_id: str) -> httpx.Client:
        token = request_token(client_id, token_url=token_url, post_to=f"{gateway}/auth/token")
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=platform.fhir_base, headers=headers, trust_env=False)

    clients = {
        name: client(client_id)
        for name, client_id in (
            ("mercy", "ehr-mercy-dallas"),
            ("harbor", "ehr-harbor-la"),
            ("chen", "radiologist-chen"),
            ("auditor", "auditor"),
        )
    }
    order = place_order(clients["mercy"], mercy)
    theirs = place_order(clients["harbor"], harbor, state="CA")
    task = wait_until(lambda: tasks_of(clients["mercy"], order), what="Mercy's read Task")[0]
    try:
        yield {
            **clients,
            "mercy_org": mercy,
            "chen_ref": chen,
            "role": role,
            "order": order,
            "harbor_order": theirs,
            "task": task,
        }
    finally:
        for http in clients.values():
            http.close()


def test_the_order_is_assigned_to_the_radiologist_and_opened_to_her(
    world: dict[str, Any],
) -> None:
    chen: httpx.Client = world["chen"]
    assert world["task"]["owner"]["reference"] == world["role"]
    worklist = created(chen.get("/Task"))
    assert [e["resource"]["id"] for e in worklist.get("entry", [])] == [world["task"]["id"]]
    # intake hears of the Task from assignment and grants her the order
    wait_until(
        lambda: chen.get(f"/ServiceRequest/{world['order']}").status_code == 200,
        what="the order opened to the radiologist",
    )
    patient = created(chen.get(f"/{world['task']['for']['reference']}"))
    assert "address" not in patient  # the minimum necessary
    assert chen.get(f"/ServiceRequest/{world['harbor_order']}").status_code == 404


def test_another_facility_sees_nothing_of_the_order_whatever_it_asks(
    world: dict[str, Any],
) -> None:
    harbor: httpx.Client = world["harbor"]
    order = f"ServiceRequest/{world['order']}"
    assert harbor.get(f"/{order}").status_code == 404
    assert harbor.get(f"/{order}/_history/1").status_code == 404
    assert harbor.get(f"/{world['task']['for']['reference']}").status_code == 404
    assert harbor.get(f"/Task/{world['task']['id']}").status_code == 404
    own = created(harbor.get("/ServiceRequest"))
    assert [e["resource"]["id"] for e in own["entry"]] == [world["harbor_order"]]
    assert created(harbor.get("/Task", params={"focus": order})).get("total") == 0
    assert harbor.get("/$turnaround", params={"order": order}).status_code == 404
    assert world["mercy"].get("/$turnaround", params={"order": order}).status_code == 200


def test_only_the_radiologist_signs_and_only_the_facility_and_she_see_the_report(
    world: dict[str, Any],
) -> None:
    chen: httpx.Client = world["chen"]
    patient = world["task"]["for"]
    signed = chen.post("/DiagnosticReport", json=report(world["order"], patient, world["role"]))
    assert signed.status_code == 201, signed.text
    report_ref = f"DiagnosticReport/{signed.json()['id']}"
    assert world["mercy"].get(f"/{report_ref}").status_code == 200
    assert world["harbor"].get(f"/{report_ref}").status_code == 404
    forged = report(world["harbor_order"], patient, world["role"])
    assert chen.post("/DiagnosticReport", json=forged).status_code in (403, 404, 422)


def test_the_auditor_finds_who_read_the_patient(world: dict[str, Any]) -> None:
    auditor: httpx.Client = world["auditor"]
    patient = world["task"]["for"]["reference"]
    events = created(auditor.get("/AuditEvent", params={"patient": patient, "_count": "100"}))
    clients = {
        agent["altId"]
        for entry in events["entry"]
        for agent in entry["resource"]["agent"]
        if agent.get("altId")
    }
    assert {"ehr-mercy-dallas", "radiologist-chen"} <= clients
    assert world["harbor"].get("/AuditEvent").status_code == 403
