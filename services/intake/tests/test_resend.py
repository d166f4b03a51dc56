"""An EHR re-sending what it already sent creates nothing new.

EHR interfaces retry on timeouts and replay whole messages; intake answers a re-sent
order (same accession/placer number), patient (same MRN) or study (same Study Instance
UID) with the stored resource and 200, whether it comes alone, in a transaction, or many
times at once.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.intake.tests.builders import (
    ACCESSION_SYSTEM,
    MRN_SYSTEM,
    NPI_SYSTEM,
    bundle,
    facility,
    order,
    ordering_setup,
    post_entry,
    registered_patient,
    study,
)
from tests.support.rest import count, create, post_at_once


async def test_a_resent_order_returns_the_stored_one_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    first = await create(client, order(patient_ref, facility_ref, "ACC-5001"))

    again = await client.post("/ServiceRequest", json=order(patient_ref, facility_ref, "ACC-5001"))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert again.json()["meta"]["versionId"] == "1"
    assert again.headers["Location"].endswith(f"/ServiceRequest/{first['id']}/_history/1")
    assert await count(client, "ServiceRequest", identifier=f"{ACCESSION_SYSTEM}|ACC-5001") == 1
    assert await count(client, "ServiceRequest") == 1


async def test_a_resent_patient_and_study_return_the_stored_ones(
    client: httpx.AsyncClient,
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    order_ref = f"ServiceRequest/{(await create(client, order(patient_ref, facility_ref)))['id']}"
    first_study = await create(client, study(order_ref, patient_ref))

    resent_patient = await client.post("/Patient", json=registered_patient())
    assert resent_patient.status_code == 200, resent_patient.text
    assert f"Patient/{resent_patient.json()['id']}" == patient_ref
    resent_study = await client.post("/ImagingStudy", json=study(order_ref, patient_ref))
    assert resent_study.status_code == 200, resent_study.text
    assert resent_study.json()["id"] == first_study["id"]
    assert await count(client, "Patient") == 1
    assert await count(client, "ImagingStudy") == 1


def order_transaction() -> dict[str, Any]:
    """What an EHR sends for a new exam: patient, facility, order and study, linked by
    urn:uuid fullUrls."""
    urns = {
        name: f"urn:uuid:0000000{i}-7d3c-4b5a-9f10-6a2b3c4d5e6f"
        for i, name in enumerate(("patient", "facility", "order", "study"))
    }
    return bundle(
        "transaction",
        post_entry(
            study(urns["order"], urns["patient"], uid="1.2.840.113619.2.55.3.6001"), urns["study"]
        ),
        post_entry(order(urns["patient"], urns["facility"], "ACC-6001"), urns["order"]),
        post_entry(registered_patient(), urns["patient"]),
        # The EHR may also say so itself: create the facility only if its NPI is new.
        post_entry(
            facility(npi="1730187795"),
            urns["facility"],
            ifNoneExist=f"identifier={NPI_SYSTEM}|1730187795",
        ),
    )


async def test_a_resent_transaction_creates_nothing_the_second_time(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("", json=order_transaction())
    assert first.status_code == 200, first.text
    first_entries = first.json()["entry"]
    assert [e["response"]["status"] for e in first_entries] == ["201 Created"] * 4
    types = ("Patient", "Organization", "ServiceRequest", "ImagingStudy")
    counts = {t: await count(client, t) for t in types}
    assert counts == dict.fromkeys(types, 1)

    second = await client.post("", json=order_transaction())
    assert second.status_code == 200, second.text
    second_entries = second.json()["entry"]
    assert [e["response"]["status"] for e in second_entries] == ["200 OK"] * 4
    for before, after in zip(first_entries, second_entries, strict=True):
        assert after["response"]["location"] == before["response"]["location"]
        assert after["resource"]["meta"]["versionId"] == "1"
    assert {t: await count(client, t) for t in types} == counts
    stored_study = second_entries[0]["resource"]
    stored_order = second_entries[1]["resource"]
    assert stored_study["basedOn"] == [{"reference": f"ServiceRequest/{stored_order['id']}"}]


async def test_a_patient_sent_twice_in_one_transaction_is_one_patient(
    client: httpx.AsyncClient,
) -> None:
    stored_facility = await create(client, facility())
    facility_ref = f"Organization/{stored_facility['id']}"
    first_urn = "urn:uuid:1f0e2d3c-4b5a-4697-8877-665544332211"
    second_urn = "urn:uuid:1f0e2d3c-4b5a-4697-8877-665544332212"
    entries = [post_entry(registered_patient(), urn) for urn in (first_urn, second_urn)]
    entries += [
        post_entry(order(urn, facility_ref, number))
        for urn, number in ((first_urn, "ACC-6101"), (second_urn, "ACC-6102"))
    ]
    response = await client.post("", json=bundle("transaction", *entries))
    assert response.status_code == 200, response.text
    first, second, *orders = (e["resource"] for e in response.json()["entry"])
    assert second["id"] == first["id"]
    assert [o["subject"] for o in orders] == [{"reference": f"Patient/{first['id']}"}] * 2
    assert await count(client, "Patient") == 1


async def test_identical_orders_sent_at_once_store_exactly_one(
    intake_app: FastAPI, client: httpx.AsyncClient
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    resource = order(patient_ref, facility_ref, "ACC-7001")

    responses = await post_at_once(intake_app, "/ServiceRequest", [resource] * 10)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(client, "ServiceRequest") == 1


async def test_transactions_sharing_a_patient_sent_at_once_share_one_patient(
    intake_app: FastAPI, client: httpx.AsyncClient
) -> None:
    stored_facility = await create(client, facility())
    facility_ref = f"Organization/{stored_facility['id']}"

    patient_urn = "urn:uuid:5b0c6a7e-0d1f-4e35-8a55-0c0d5e8f9a01"
    transactions = [
        bundle(
            "transaction",
            post_entry(order(patient_urn, facility_ref, f"ACC-80{i:02d}")),
            post_entry(registered_patient(), patient_urn),
        )
        for i in range(5)
    ]

    responses = await post_at_once(intake_app, "", transactions)
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert await count(client, "Patient", identifier=f"{MRN_SYSTEM}|MRN-1001") == 1
    patient_id = (await client.get("/Patient")).json()["entry"][0]["resource"]["id"]
    assert await count(client, "ServiceRequest", subject=f"Patient/{patient_id}") == 5


async def test_a_resent_facility_with_the_same_npi_is_the_stored_one(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/Organization", json=facility(npi="1497758544"))
    again = await client.post("/Organization", json=facility(npi="1497758544", name="Renamed"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"] == first.json()["name"]
    assert await count(client, "Organization") == 1


async def test_an_identifier_too_long_to_keep_unique_is_refused_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    patient_ref, facility_ref = await ordering_setup(client)
    too_long = order(patient_ref, facility_ref, accession_number="A" * 300)

    response = await client.post("/ServiceRequest", json=too_long)

    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["ServiceRequest.identifier"]
    assert await count(client, "ServiceRequest") == 0
