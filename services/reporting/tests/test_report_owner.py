"""Only the radiologist an order's read is assigned to may report on it: reporting asks
assignment (over FHIR REST, at write time) who owns the order's read Task, and takes the
report only when its resultsInterpreter names that owner -- the PractitionerRole or its
Practitioner. When assignment cannot answer, the report is not taken and the client is
told to retry (503, Retry-After).

Both services run in-process on the test's databases; reporting's peer client reaches the
assignment app through an ASGI transport at ASSIGNMENT_URL.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from services.reporting.rules import DiagnosticReportRules
from services.reporting.tests.support import (
    ASSIGNMENT_URL,
    Services,
    new_order,
    refused,
    report,
)
from shared.auth import Principal
from shared.fhir.outcomes import FhirError
from shared.fhir.registry import WriteContext
from tests.support.rest import count, create, update

# -- the owner reports --------------------------------------------------------------------


@pytest.mark.parametrize("as_", ["role", "practitioner"])
async def test_the_owner_of_the_read_may_report_on_it(services: Services, as_: str) -> None:
    role, practitioner = await services.radiologist()
    order = new_order()
    await services.read_task(order, role)

    interpreter = role if as_ == "role" else practitioner
    response = await services.reporting.post(
        "/DiagnosticReport", json=report(order, interpreter=interpreter)
    )

    assert response.status_code == 201, response.text
    assert response.json()["resultsInterpreter"] == [{"reference": interpreter}]


async def test_an_absolute_reference_to_the_owner_counts_as_the_owner(services: Services) -> None:
    role, _ = await services.radiologist()
    order = new_order()
    await services.read_task(order, role)

    interpreter = f"{ASSIGNMENT_URL}/fhir/{role}"
    response = await services.reporting.post(
        "/DiagnosticReport", json=report(order, interpreter=interpreter)
    )

    assert response.status_code == 201, response.text


async def test_a_completed_read_still_takes_the_owners_amendment(services: Services) -> None:
    role, _ = await services.radiologist()
    order = new_order()
    task = await services.read_task(order, role)
    final = await create(services.reporting, report(order, interpreter=role))
    await update(services.assignment, {**task, "status": "completed"})

    response = await services.reporting.put(
        f"/DiagnosticReport/{final['id']}", json={**final, "status": "amended"}
    )

    assert response.status_code == 200, response.text


# -- everyone else is refused -------------------------------------------------------------


async def test_another_radiologist_cannot_report_on_the_read(services: Services) -> None:
    owner, _ = await services.radiologist()
    other_role, other_practitioner = await services.radiologist()
    order = new_order()
    await services.read_task(order, owner)

    for interpreter in (other_role, other_practitioner, None):
        response = await services.reporting.post(
            "/DiagnosticReport", json=report(order, interpreter=interpreter)
        )
        refused(response, 422, "DiagnosticReport.resultsInterpreter")
    assert await count(services.reporting, "DiagnosticReport") == 0


async def test_after_reassignment_only_the_new_owner_may_update_the_report(
    services: Services,
) -> None:
    first, _ = await services.radiologist()
    second, _ = await services.radiologist()
    order = new_order()
    task = await services.read_task(order, first)
    written = await create(
        services.reporting, report(order, interpreter=first, status="preliminary")
    )
    await update(services.assignment, {**task, "owner": {"reference": second}})

    by_former = await services.reporting.put(
        f"/DiagnosticReport/{written['id']}", json={**written, "status": "final"}
    )
    by_new = await services.reporting.put(
        f"/DiagnosticReport/{written['id']}",
        json={**written, "status": "final", "resultsInterpreter": [{"reference": second}]},
    )

    refused(by_former, 422, "DiagnosticReport.resultsInterpreter")
    assert by_new.status_code == 200, by_new.text


async def test_a_user_token_naming_someone_else_is_forbidden_even_with_the_owner_named(
    services: Services,
) -> None:
    owner, owner_practitioner = await services.radiologist()
    _, someone_else = await services.radiologist()
    order = new_order()
    await services.read_task(order, owner)
    rules, peers = DiagnosticReportRules(), services.reporting_app.state.peers

    def as_user(user: str) -> WriteContext:
        principal = Principal("viewer-app", frozenset({"user/*.cruds"}), fhir_user=user)
        return WriteContext(repository=None, principal=principal, peers=peers)  # type: ignore[arg-type]

    with pytest.raises(FhirError) as refusal:
        await rules.prepare(
            report(order, interpreter=owner), previous=None, context=as_user(someone_else)
        )
    assert refusal.value.status == 403
    await rules.prepare(
        report(order, interpreter=owner), previous=None, context=as_user(owner_practitioner)
    )


@pytest.mark.parametrize("task", ["none", "unassigned"])
async def test_an_order_without_an_assigned_read_takes_no_report(
    services: Services, task: str
) -> None:
    role, _ = await services.radiologist()
    order = new_order()
    if task == "unassigned":
        await services.read_task(order, None)

    response = await services.reporting.post(
        "/DiagnosticReport", json=report(order, interpreter=role)
    )

    refused(response, 422, "DiagnosticReport.basedOn")
    assert await count(services.reporting, "DiagnosticReport") == 0


@pytest.mark.parametrize("dead", ["cancelled", "rejected", "failed", "entered-in-error"])
async def test_a_read_that_was_called_off_takes_no_report(services: Services, dead: str) -> None:
    role, _ = await services.radiologist()
    order = new_order()
    await services.read_task(order, role, status=dead)

    response = await services.reporting.post(
        "/DiagnosticReport", json=report(order, interpreter=role)
    )

    refused(response, 422, "DiagnosticReport.basedOn")


@pytest.mark.parametrize("orders", [(), ("order-a", "order-b")], ids=["none", "two"])
async def test_a_report_reads_exactly_one_order(
    services: Services, orders: tuple[str, ...]
) -> None:
    role, _ = await services.radiologist()
    for order in orders:
        await services.read_task(order, role)

    response = await services.reporting.post(
        "/DiagnosticReport", json=report(*orders, interpreter=role)
    )

    refused(response, 422, "DiagnosticReport.basedOn")


# -- assignment not answering -------------------------------------------------------------


def _refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _failing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"resourceType": "OperationOutcome", "issue": []})


@pytest.mark.parametrize("answer", [_refusing, _failing], ids=["unreachable", "failing"])
async def test_when_assignment_cannot_answer_the_report_waits_for_a_retry(
    services: Services, answer: Callable[[httpx.Request], httpx.Response]
) -> None:
    role, _ = await services.radiologist()
    order = new_order()
    await services.read_task(order, role)
    await services.reach_assignment_through(httpx.MockTransport(answer))

    response = await services.reporting.post(
        "/DiagnosticReport", json=report(order, interpreter=role)
    )

    refused(response, 503)
    assert response.headers["Retry-After"].isdigit()
    assert await count(services.reporting, "DiagnosticReport") == 0
