"""Every FHIR interaction leaves its AuditEvent (IHE BALP) naming the client, the user and
the patient: reads, searches, writes, Bundles, and every refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake.tests.builders import (
    bundle,
    order,
    ordering_setup,
    post_entry,
    registered_patient,
    request_entry,
)
from shared.auth import Principal
from tests.fixtures import client_for
from tests.support.audit import (
    OPERATOR,
    agent,
    audit_events,
    calling_as,
    client_id,
    objects,
    patients,
    query,
    subtype,
    the_event,
)
from tests.support.rest import assert_outcome, create, update


@pytest.fixture
async def operator(intake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of intake calling as OPERATOR (a user behind an operations client)."""
    with calling_as(intake_app, OPERATOR):
        async with client_for(intake_app, headers={}) as client:
            yield client


async def stored_order(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    """A stored patient's reference and an order of theirs, as stored."""
    patient, facility = await ordering_setup(client)
    return patient, await create(client, order(patient, facility))


def assert_names_the_caller(event: dict[str, Any]) -> None:
    """The client (client_id, role, address), the user (fhirUser, subject) and intake."""
    assert client_id(event) == "ops-console"
    client = agent(event, "110153")
    assert client["altId"] == "ops-console"
    assert client["role"][0]["coding"][0]["code"] == "system"
    assert client["network"]["address"]
    user = agent(event, "IRCP")
    assert user["who"]["reference"] == "Practitioner/ops-1"
    assert user["altId"] == "idp|ops-1" and user["requestor"] is True
    assert agent(event, "110152")["who"]["identifier"]["value"] == "intake"
    assert event["source"]["observer"]["identifier"]["value"] == "intake"


async def test_a_read_names_the_client_the_user_the_resource_and_its_patient(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(operator)
    order_path = f"ServiceRequest/{stored['id']}"
    assert (await operator.get(f"/{order_path}")).status_code == 200

    event = await the_event(intake_app, ("entity", order_path), ("subtype", "read"))
    assert event["type"]["code"] == "rest"
    assert (event["action"], event["outcome"]) == ("R", "0")
    assert "outcomeDesc" not in event
    assert objects(event) == [f"{order_path}/_history/1"]
    assert patients(event) == {patient}
    assert_names_the_caller(event)
    traceparent = [e for e in event["entity"] if e["type"]["code"] == "Traceparent"]
    assert traceparent[0]["what"]["identifier"]["value"].startswith("00-")


async def test_a_search_records_its_query_and_the_patients_it_returned(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(operator)
    searched = f"status=active&_id={stored['id']}"
    assert (await operator.get(f"/ServiceRequest?{searched}")).status_code == 200

    event = await the_event(intake_app, ("patient", patient), ("subtype", "search-type"))
    assert (event["action"], event["outcome"]) == ("E", "0")
    assert query(event) == f"ServiceRequest?{searched}"
    assert patients(event) == {patient}
    assert objects(event) == []  # a query is recorded as such, not resource by resource
    assert_names_the_caller(event)


async def test_create_update_and_delete_each_name_the_version_written(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(operator)
    order_path = f"ServiceRequest/{stored['id']}"
    await update(operator, {**stored, "priority": "stat"})
    assert (await operator.delete(f"/{order_path}")).status_code == 204

    events = await audit_events(intake_app, ("entity", order_path))
    assert [(subtype(e), e["action"], objects(e)) for e in events] == [
        ("create", "C", [f"{order_path}/_history/1"]),
        ("update", "U", [f"{order_path}/_history/2"]),
        ("delete", "D", [f"{order_path}/_history/3"]),
    ]
    for event in events:
        assert event["outcome"] == "0"
        assert patients(event) == {patient}
        assert_names_the_caller(event)


async def test_a_transaction_leaves_one_event_per_entry(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    _, facility = await ordering_setup(operator)
    sent = bundle(
        "transaction",
        post_entry(registered_patient("MRN-7001"), "urn:uuid:p1"),
        post_entry(order("urn:uuid:p1", facility, "ACC-7001"), "urn:uuid:o1"),
    )
    answer = await operator.post("", json=sent)
    assert answer.status_code == 200, answer.text
    patient_path, order_path = (
        e["response"]["location"].split("/_history")[0] for e in answer.json()["entry"]
    )

    events = await audit_events(intake_app, ("patient", patient_path))
    assert sorted((subtype(e), objects(e)[0].split("/_history")[0]) for e in events) == [
        ("create", patient_path),
        ("create", order_path),
    ]
    assert all(e["outcome"] == "0" for e in events)


async def test_a_refused_transaction_leaves_one_failure_naming_its_patients(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, _ = await stored_order(operator)
    sent = bundle(
        "transaction",
        post_entry(order(patient, "Organization/nowhere", "ACC-7002")),
    )
    assert (await operator.post("", json=sent)).status_code == 422

    event = await the_event(intake_app, ("patient", patient), ("subtype", "transaction"))
    assert (event["outcome"], event["outcomeDesc"]) == ("4", "HTTP 422 Unprocessable Entity")
    assert_names_the_caller(event)


async def test_a_batch_entry_that_fails_has_its_own_outcome(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(operator)
    sent = bundle(
        "batch",
        request_entry("GET", f"ServiceRequest/{stored['id']}"),
        request_entry("GET", "ServiceRequest/no-such-order"),
    )
    assert (await operator.post("", json=sent)).status_code == 200

    read = await the_event(
        intake_app, ("entity", f"ServiceRequest/{stored['id']}"), ("subtype", "read")
    )
    missing = await the_event(intake_app, ("entity", "ServiceRequest/no-such-order"))
    assert (subtype(read), read["outcome"], patients(read)) == ("read", "0", {patient})
    assert (subtype(missing), missing["outcome"]) == ("read", "4")
    assert missing["outcomeDesc"] == "HTTP 404 Not Found"


async def test_an_unauthenticated_read_is_recorded_with_the_unknown_client_and_the_patient(
    intake_app: FastAPI, client: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(client)
    order_path = f"ServiceRequest/{stored['id']}"
    async with client_for(intake_app, headers={}) as anonymous:
        assert_outcome(await anonymous.get(f"/{order_path}"), 401)

    event = await the_event(intake_app, ("entity", order_path), ("outcome", "4"))
    assert subtype(event) == "read"
    assert event["outcomeDesc"] == "HTTP 401 Unauthorized"
    assert patients(event) == {patient}
    caller = agent(event, "110153")
    assert "identifier" not in caller["who"] and "altId" not in caller
    assert caller["network"]["address"]
    assert [a["type"]["coding"][0]["code"] for a in event["agent"]] == ["110153", "110152"]


async def test_a_read_beyond_the_granted_scopes_is_recorded_as_refused(
    intake_app: FastAPI, client: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(client)
    order_path = f"ServiceRequest/{stored['id']}"
    patients_only = Principal(
        client_id="ops-console",
        scopes=frozenset({"system/Patient.rs"}),
        role="system",
        fhir_user="Practitioner/ops-1",
        user="idp|ops-1",
    )
    with calling_as(intake_app, patients_only):
        assert_outcome(await client.get(f"/{order_path}"), 403)

    event = await the_event(intake_app, ("entity", order_path), ("outcome", "4"))
    assert (subtype(event), event["action"]) == ("read", "R")
    assert event["outcomeDesc"] == "HTTP 403 Forbidden"
    assert patients(event) == {patient}
    assert_names_the_caller(event)


async def test_a_read_answered_404_still_names_the_patient_it_was_about(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(operator)
    order_path = f"ServiceRequest/{stored['id']}"
    assert_outcome(await operator.get(f"/{order_path}/_history/9"), 404)

    event = await the_event(intake_app, ("entity", order_path), ("outcome", "4"))
    assert subtype(event) == "vread"
    assert objects(event) == [f"{order_path}/_history/9"]
    assert event["outcomeDesc"] == "HTTP 404 Not Found"
    assert patients(event) == {patient}
    assert_names_the_caller(event)


async def test_an_invalid_create_names_the_submitted_patient_and_no_phi(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, _ = await stored_order(operator)
    canary = "Zyxwvut-Canary"
    invalid = order(patient, "Organization/nowhere", "ACC-7003", note=[{"text": canary}])
    assert (await operator.post("/ServiceRequest", json=invalid)).status_code == 422

    event = await the_event(intake_app, ("patient", patient), ("outcome", "4"))
    assert (subtype(event), event["action"]) == ("create", "C")
    assert event["outcomeDesc"] == "HTTP 422 Unprocessable Entity"
    assert canary not in str(event)


async def test_history_and_subscription_operations_are_recorded(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(operator)
    order_path = f"ServiceRequest/{stored['id']}"
    assert (await operator.get(f"/{order_path}/_history")).status_code == 200
    assert (await operator.get("/Subscription/none/$status")).status_code == 404

    history = await the_event(intake_app, ("entity", order_path), ("subtype", "history-instance"))
    assert (history["action"], patients(history)) == ("R", {patient})
    status = await the_event(intake_app, ("entity", "Subscription/none"))
    assert (subtype(status), status["outcome"]) == ("operation", "4")


async def test_the_client_address_is_the_one_the_nearest_proxy_saw(
    intake_app: FastAPI, operator: httpx.AsyncClient
) -> None:
    patient, stored = await stored_order(operator)
    order_path = f"ServiceRequest/{stored['id']}"
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}  # client-sent, gateway-added
    assert (await operator.get(f"/{order_path}", headers=forwarded)).status_code == 200

    event = await the_event(intake_app, ("entity", order_path), ("subtype", "read"))
    assert agent(event, "110153")["network"] == {"address": "198.51.100.7", "type": "2"}
    found = await audit_events(intake_app, ("address:exact", "198.51.100.7"), ("patient", patient))
    assert found == [event]
