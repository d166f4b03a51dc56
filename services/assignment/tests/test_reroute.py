"""`POST Task/{id}/$reroute`: an unstarted read moves at once to another eligible reader
who finishes it clearly sooner -- recorded like every routing -- and otherwise stays with
the reason; a read being read never moves; only the platform and operations may ask."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.assignment.tests.routing_support import (
    add_reader,
    business_code,
    busy_reader_with_a_queued_read,
    owner,
    the_task,
)
from tests.support.audit import audit_events
from tests.support.tenants import as_caller, radiologist

ASKED = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "late"}]}
FHIR = {"Content-Type": "application/fhir+json"}


def _answer(parameters: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for parameter in parameters["parameter"]:
        value = next(v for k, v in parameter.items() if k.startswith("value"))
        values[parameter["name"]] = value
    return values


async def _reroute(client: httpx.AsyncClient, task: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/Task/{task['id']}/$reroute", json=ASKED, headers=FHIR)


async def test_a_read_queued_behind_another_moves_to_a_free_reader_and_is_recorded(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    busy, queued = await busy_reader_with_a_queued_read(assignment_app, assignment)
    assert owner(queued) == busy
    free, _ = await add_reader(assignment, family="Free")

    response = await _reroute(assignment, queued)

    assert response.status_code == 200, response.text
    answer = _answer(response.json())
    assert answer["rerouted"] is True and answer["owner"]["reference"] == free
    moved = await the_task(assignment, "order-2")
    assert owner(moved) == free and business_code(moved) == "re-routed"
    assert "late" in moved["businessStatus"]["text"]
    decisions = [
        e
        for e in await audit_events(assignment_app, ("entity", f"Task/{queued['id']}"))
        if e["type"]["code"] == "decision"
    ]
    assert [e["subtype"][0]["code"] for e in decisions].count("re-routed") == 1


async def test_with_nobody_sooner_the_read_stays_and_the_answer_says_why(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    busy, queued = await busy_reader_with_a_queued_read(assignment_app, assignment)

    response = await _reroute(assignment, queued)

    assert response.status_code == 200, response.text
    answer = _answer(response.json())
    assert answer["rerouted"] is False and answer["owner"]["reference"] == busy
    assert "sooner" in answer["reason"]
    assert (await the_task(assignment, "order-2"))["meta"] == queued["meta"]


async def test_a_read_being_read_is_never_taken_away(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    busy, _ = await busy_reader_with_a_queued_read(assignment_app, assignment)
    await add_reader(assignment, family="Free")
    reading = await the_task(assignment, "order-1")

    response = await _reroute(assignment, reading)

    assert response.status_code == 200, response.text
    answer = _answer(response.json())
    assert answer["rerouted"] is False and "in-progress" in answer["reason"]
    assert owner(await the_task(assignment, "order-1")) == busy


async def test_only_the_platform_and_operations_may_reroute_and_errors_are_outcomes(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    _, queued = await busy_reader_with_a_queued_read(assignment_app, assignment)
    practitioner = (await assignment.get(f"/{owner(queued)}")).json()["practitioner"]
    async with as_caller(assignment_app, radiologist(practitioner["reference"])) as caller:
        refused = await _reroute(caller, queued)
    unknown = await assignment.post("/Task/nope/$reroute", json=ASKED, headers=FHIR)
    bad = await assignment.post(
        f"/Task/{queued['id']}/$reroute",
        json={"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": 3}]},
        headers=FHIR,
    )

    assert refused.status_code == 403, refused.text
    assert unknown.status_code == 404, unknown.text
    assert bad.status_code == 400, bad.text
    issue = bad.json()["issue"][0]
    assert issue["expression"] == ["Parameters.parameter[0].valueString"]
    for response in (refused, unknown, bad):
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_the_capability_statement_lists_reroute_on_task(
    assignment: httpx.AsyncClient,
) -> None:
    statement = (await assignment.get("/metadata")).json()
    (task,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Task"]
    assert [o["name"] for o in task["operation"]] == ["reroute"]
    assert task["operation"][0]["definition"].endswith("/OperationDefinition/reroute")


async def test_an_accepted_read_not_yet_started_moves_and_waits_for_its_new_reader(
    assignment_app: FastAPI, assignment: httpx.AsyncClient
) -> None:
    busy, queued = await busy_reader_with_a_queued_read(assignment_app, assignment)
    practitioner = (await assignment.get(f"/{busy}")).json()["practitioner"]["reference"]
    async with as_caller(assignment_app, radiologist(practitioner)) as caller:
        response = await caller.put(f"/Task/{queued['id']}", json={**queued, "status": "accepted"})
        assert response.status_code == 200, response.text
    free, _ = await add_reader(assignment, family="Free")

    answer = _answer((await _reroute(assignment, response.json())).json())

    moved = await the_task(assignment, "order-2")
    assert answer["rerouted"] is True
    assert owner(moved) == free and moved["status"] == "requested"
