"""Auditors read the audit log through the sla service: `GET AuditEvent` (search, newest
first, paged) and `GET AuditEvent/{id}`. Nothing writes an AuditEvent through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake.tests.builders import bundle, order, ordering_setup, post_entry
from shared.auth import Principal
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app
from tests.support.audit import AUDITOR, OPERATOR, calling_as, query, subtype, the_event
from tests.support.rest import assert_outcome, create, entries, follow, links, searchset


@pytest.fixture
async def sla_app(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[FastAPI]:
    """sla, on the same audit log as the test's intake."""
    async with running_app("sla", make_settings("sla")) as app:
        yield app


@pytest.fixture
async def auditor(sla_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    with calling_as(sla_app, AUDITOR):
        async with client_for(sla_app, headers={}) as client:
            yield client


async def patient_history(intake_app: FastAPI) -> tuple[str, str]:
    """An operator registers a patient, orders for them and reads the order: the patient's
    reference and the order's."""
    with calling_as(intake_app, OPERATOR):
        async with client_for(intake_app, headers={}) as operator:
            patient, facility = await ordering_setup(operator)
            stored = await create(operator, order(patient, facility))
            assert (await operator.get(f"/ServiceRequest/{stored['id']}")).status_code == 200
    return patient, f"ServiceRequest/{stored['id']}"


async def found(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    bundle = searchset(await client.get("/AuditEvent", params=params))
    return [entry["resource"] for entry in entries(bundle)]


async def test_auditors_search_by_patient_agent_date_and_action(
    intake_app: FastAPI, auditor: httpx.AsyncClient
) -> None:
    before = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    patient, order_path = await patient_history(intake_app)
    mine = {"patient": patient, "source": "intake"}  # not the auditor's own searches (sla)

    newest_first = await found(auditor, **mine)
    assert [subtype(e) for e in newest_first] == ["read", "create", "create"]
    assert [e["recorded"] for e in newest_first] == sorted(
        (e["recorded"] for e in newest_first), reverse=True
    )
    [read] = await found(auditor, **mine, action="R")
    assert read["entity"][0]["what"]["reference"].startswith(order_path)
    assert len(await found(auditor, **mine, agent="Practitioner/ops-1")) == 3
    assert len(await found(auditor, **mine, altid="ops-console")) == 3
    assert len(await found(auditor, **mine, altid="someone-else")) == 0
    assert len(await found(auditor, **mine, date=f"ge{before}")) == 3
    assert len(await found(auditor, **mine, date=f"lt{before}")) == 0
    assert len(await found(auditor, **mine, subtype="read", outcome="0")) == 1


async def test_audit_events_are_paged_and_read_by_id(
    intake_app: FastAPI, auditor: httpx.AsyncClient
) -> None:
    patient, _ = await patient_history(intake_app)

    first = searchset(await auditor.get("/AuditEvent", params={"patient": patient, "_count": 2}))
    second = await follow(auditor, links(first)["next"])
    paged = entries(first) + entries(second)
    assert first["total"] >= 3 and len(entries(first)) == 2
    [one] = entries(first)[:1]
    read = await auditor.get(f"/AuditEvent/{one['resource']['id']}")
    assert read.status_code == 200 and read.json() == one["resource"]
    assert len({e["resource"]["id"] for e in paged}) == len(paged)


async def test_reading_the_audit_log_is_itself_audited(
    intake_app: FastAPI, sla_app: FastAPI, auditor: httpx.AsyncClient
) -> None:
    patient, _ = await patient_history(intake_app)
    await found(auditor, patient=patient, action="C")

    event = await the_event(sla_app, ("patient", patient), ("source", "sla"))
    assert (subtype(event), event["outcome"]) == ("search-type", "0")
    assert query(event) == f"AuditEvent?patient={patient.replace('/', '%2F')}&action=C"
    assert event["agent"][0]["altId"] == "audit-desk"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/AuditEvent"),
        ("PUT", "/AuditEvent/{id}"),
        ("DELETE", "/AuditEvent/{id}"),
        ("PATCH", "/AuditEvent/{id}"),
        ("DELETE", "/AuditEvent?patient={patient}"),
        ("PUT", "/AuditEvent?patient={patient}"),
    ],
)
async def test_no_audit_event_can_be_written_through_the_api(
    intake_app: FastAPI, sla_app: FastAPI, method: str, path: str
) -> None:
    patient, _ = await patient_history(intake_app)
    event = await the_event(intake_app, ("patient", patient), ("action", "R"))
    changed = {**event, "outcome": "8"}
    async with client_for(sla_app) as admin:  # the development client may do anything
        url = path.format(id=event["id"], patient=patient)
        answer = await admin.request(method, url, json=changed)
        assert_outcome(answer, 405)
        assert (await admin.get(f"/AuditEvent/{event['id']}")).json() == event


async def test_a_bundle_cannot_carry_an_audit_event(sla_app: FastAPI) -> None:
    forged = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-01-01"}
    async with client_for(sla_app) as admin:
        for bundle_type in ("transaction", "batch"):
            answer = await admin.post("", json=bundle(bundle_type, post_entry(forged)))
            if bundle_type == "transaction":
                assert_outcome(answer, 400)
            else:
                assert answer.json()["entry"][0]["response"]["status"] == "400"


async def test_audit_events_need_audit_event_scopes(sla_app: FastAPI) -> None:
    orders_only = Principal(client_id="ehr", scopes=frozenset({"system/ServiceRequest.rs"}))
    with calling_as(sla_app, orders_only):
        async with client_for(sla_app, headers={}) as client:
            assert_outcome(await client.get("/AuditEvent"), 403)
            assert_outcome(await client.get("/AuditEvent/any"), 403)


async def test_the_capability_statement_offers_audit_events_read_and_search_only(
    sla_app: FastAPI,
) -> None:
    async with client_for(sla_app, headers={}) as anonymous:
        statement = (await anonymous.get("/metadata")).json()
    [audit] = [r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent"]
    assert [i["code"] for i in audit["interaction"]] == ["read", "search-type"]
    assert (audit["conditionalCreate"], audit["conditionalUpdate"]) == (False, False)
    assert audit["conditionalDelete"] == "not-supported"
    params = {p["name"] for p in audit["searchParam"]}
    assert {"date", "agent", "altid", "entity", "patient", "type", "subtype", "action"} <= params
    assert {"outcome", "source"} <= params
