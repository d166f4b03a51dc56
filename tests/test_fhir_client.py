"""A standard FHIR client library, unchanged, works against the intake service.

fhirpy (aiohttp underneath) talks real HTTP, so the app runs in a uvicorn server on a free
loopback port for the test, on each database backend.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from services.intake.app import create_app
from services.intake.tests.builders import (
    ACCESSION_SYSTEM,
    MRN_SYSTEM,
    bundle,
    facility,
    order,
    post_entry,
    registered_patient,
    study,
)
from shared.settings import ServiceSettings
from tests.fixtures import DEV_TOKEN
from tests.support.databases import truncate_all


@pytest.fixture
async def fhir(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[AsyncFHIRClient]:
    """A fhirpy client of the intake service running in uvicorn on 127.0.0.1."""
    app = create_app(make_settings("intake", log_level="WARNING"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))  # bound before serving: no race for the port
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if serving.done():
                    serving.result()  # surfaces the start-up failure
                    pytest.fail("uvicorn stopped before starting")
                await asyncio.sleep(0.01)
        if app.state.database.engine.dialect.name == "postgresql":
            await truncate_all(app.state.database.engine)
        yield AsyncFHIRClient(f"http://127.0.0.1:{port}/fhir", authorization=f"Bearer {DEV_TOKEN}")
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def test_create_read_update_and_search_with_fhirpy(fhir: AsyncFHIRClient) -> None:
    stored_patient = fhir.resource("Patient", **registered_patient(mrn="MRN-FP-1"))
    await stored_patient.save()
    assert stored_patient.id
    assert stored_patient["meta"]["versionId"] == "1"
    stored_facility = fhir.resource("Organization", **facility())
    await stored_facility.save()

    new_order = fhir.resource(
        "ServiceRequest",
        **order(f"Patient/{stored_patient.id}", f"Organization/{stored_facility.id}", "ACC-FP-1"),
    )
    await new_order.save()
    assert new_order["priority"] == "routine"  # the server's default, sent back

    read = await fhir.reference("ServiceRequest", new_order.id).to_resource()
    assert read.id == new_order.id
    assert read["subject"]["reference"] == f"Patient/{stored_patient.id}"

    read["priority"] = "stat"
    await read.save()  # PUT ServiceRequest/<id>
    assert read["meta"]["versionId"] == "2"
    assert (await fhir.get("ServiceRequest", new_order.id))["priority"] == "stat"

    found = (
        await fhir.resources("ServiceRequest")
        .search(identifier=f"{ACCESSION_SYSTEM}|ACC-FP-1", priority="stat")
        .fetch()
    )
    assert [r.id for r in found] == [new_order.id]
    by_patient = await fhir.resources("ServiceRequest").search(patient=stored_patient.id).fetch()
    assert [r.id for r in by_patient] == [new_order.id]
    assert await fhir.resources("ServiceRequest").search(priority="routine").fetch() == []
    # Pages are followed through the server's `next` links.
    for n in range(4):
        await fhir.resource("Patient", **registered_patient(mrn=f"MRN-FP-PAGE-{n}")).save()
    paged = await fhir.resources("Patient").limit(2).fetch_all()
    assert len(paged) == 5
    assert len({p.id for p in paged}) == 5


async def test_fhirpy_sees_rule_failures_and_missing_resources(fhir: AsyncFHIRClient) -> None:
    incomplete = fhir.resource(
        "ServiceRequest", **order("Patient/nobody", "Organization/nowhere", code=None)
    )
    with pytest.raises(OperationOutcome) as refused:
        await incomplete.save()
    issue = refused.value.resource["issue"][0]
    assert issue["code"] == "business-rule"
    assert issue["expression"] == ["ServiceRequest.code"]
    with pytest.raises(ResourceNotFound):
        await fhir.get("ServiceRequest", "no-such-order")


async def test_a_transaction_bundle_sent_with_fhirpy(fhir: AsyncFHIRClient) -> None:
    urns = {
        name: f"urn:uuid:6e1f7a52-1c3b-4f0e-9a7d-00000000000{i}"
        for i, name in enumerate(("patient", "facility", "order", "study"))
    }
    resources: dict[str, dict[str, Any]] = {
        "patient": registered_patient(mrn="MRN-FP-TX"),
        "facility": facility(),
        "order": order(urns["patient"], urns["facility"], "ACC-FP-TX"),
        "study": study(urns["order"], urns["patient"], uid="1.2.840.113619.2.55.3.424242"),
    }
    transaction = bundle(
        "transaction",
        *(post_entry(resource, urns[name]) for name, resource in reversed(resources.items())),
    )
    answer = await fhir.execute("/", method="post", data=transaction)
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 4
    created_study, created_order, _, created_patient = (e["resource"] for e in answer["entry"])
    assert created_study["basedOn"] == [{"reference": f"ServiceRequest/{created_order['id']}"}]

    studies = (
        await fhir.resources("ImagingStudy")
        .search(basedon=f"ServiceRequest/{created_order['id']}")
        .fetch()
    )
    assert [s.id for s in studies] == [created_study["id"]]
    patients = await fhir.resources("Patient").search(identifier=f"{MRN_SYSTEM}|MRN-FP-TX").fetch()
    assert [p.id for p in patients] == [created_patient["id"]]

    again = await fhir.execute("/", method="post", data=transaction)
    assert [e["response"]["status"] for e in again["entry"][:2]] == ["200 OK"] * 2
    assert again["entry"][0]["resource"]["id"] == created_study["id"]
