"""Reference search (FHIR R4 search 3.1.1.4.9) and _include / _revinclude (3.1.1.5.4).

A reference is searched by id, Type/id, id with a :Type modifier, or the absolute URL on
this server. Included resources are marked search.mode = include and appear once.
"""

from __future__ import annotations

import httpx

from services.intake.tests.builders import (
    facility_extension,
    order,
    organization,
    patient,
    patients,
    study,
)
from tests.fixtures import BASE
from tests.support.rest import assert_outcome, create, entries, found, ids_of, match_ids, search


async def test_patient_reference_matches_every_form_of_the_reference(
    client: httpx.AsyncClient,
) -> None:
    facility = await create(client, organization())
    jane, john = await patients(client, {}, {})
    janes_order = await create(client, order(jane, facility, "ACC-JANE"))
    await create(client, order(john, facility, "ACC-JOHN"))
    jane_id = jane["id"]

    for params in (
        {"patient": jane_id},
        {"patient": f"Patient/{jane_id}"},
        {"subject": jane_id},
        {"subject:Patient": jane_id},
        {"subject": f"{BASE}/Patient/{jane_id}"},
        {"patient": f"unknown,Patient/{jane_id}"},
    ):
        assert await found(client, "ServiceRequest", params) == ids_of(janes_order), params
    assert await found(client, "ServiceRequest", {"patient": "Patient/unknown"}) == set()


async def test_reference_of_another_type_does_not_match(client: httpx.AsyncClient) -> None:
    facility = await create(client, organization())
    jane = await create(client, patient())
    await create(client, order(jane, facility))

    assert await found(client, "ServiceRequest", {"patient": f"Organization/{jane['id']}"}) == set()
    assert await found(client, "ServiceRequest", {"requester": f"Patient/{facility['id']}"}) == (
        set()
    )


async def test_facility_matches_organization_requester_and_ordering_facility_extension(
    client: httpx.AsyncClient,
) -> None:
    valley = await create(client, organization())
    hillside = await create(client, organization(name="Hillside"))
    subject = await create(client, patient())
    requested_by_valley = await create(client, order(subject, valley, "ACC-VALLEY"))
    for_hillside = await create(
        client,
        order(
            subject,
            hillside,
            "ACC-HILLSIDE",
            requester=None,
            extension=facility_extension(hillside),
        ),
    )

    assert await found(client, "ServiceRequest", {"facility": valley["id"]}) == ids_of(
        requested_by_valley
    )
    assert await found(
        client, "ServiceRequest", {"facility": f"Organization/{hillside['id']}"}
    ) == ids_of(for_hillside)
    assert await found(client, "ServiceRequest", {"requester": hillside["id"]}) == set()


async def test_include_adds_each_referenced_patient_once(client: httpx.AsyncClient) -> None:
    facility = await create(client, organization())
    jane, john = await patients(client, {}, {})
    orders = [
        await create(client, order(jane, facility, "ACC-JANE-1")),
        await create(client, order(jane, facility, "ACC-JANE-2")),
        await create(client, order(john, facility, "ACC-JOHN")),
    ]

    for includes in (
        [("_include", "ServiceRequest:patient")],
        [("_include", "ServiceRequest:subject")],
        [("_include", "ServiceRequest:patient:Patient")],
        [("_include", "ServiceRequest:patient"), ("_include", "ServiceRequest:subject")],
    ):
        bundle = await search(client, "ServiceRequest", includes)

        assert set(match_ids(bundle)) == ids_of(*orders), includes
        included = [e["resource"] for e in entries(bundle, "include")]
        assert sorted(r["id"] for r in included) == sorted(ids_of(jane, john)), includes
        assert {r["resourceType"] for r in included} == {"Patient"}
        assert bundle["total"] == 3  # included resources are not counted


async def test_include_of_a_page_adds_only_that_pages_references(
    client: httpx.AsyncClient,
) -> None:
    facility = await create(client, organization())
    jane, john = await patients(client, {}, {})
    await create(client, order(jane, facility, "ACC-JANE"))
    johns_order = await create(client, order(john, facility, "ACC-JOHN"))

    bundle = await search(
        client, "ServiceRequest", {"_include": "ServiceRequest:patient", "_id": johns_order["id"]}
    )

    assert [e["resource"]["id"] for e in entries(bundle, "include")] == [john["id"]]


async def test_include_of_based_on_adds_the_order_of_a_study(client: httpx.AsyncClient) -> None:
    facility = await create(client, organization())
    subject = await create(client, patient())
    the_order = await create(client, order(subject, facility))
    scans = [
        await create(client, study(the_order, subject, uid="1.2.840.113619.2.55.3.11")),
        await create(client, study(the_order, subject, uid="1.2.840.113619.2.55.3.12")),
    ]

    bundle = await search(client, "ImagingStudy", {"_include": "ImagingStudy:basedon"})

    assert set(match_ids(bundle)) == ids_of(*scans)
    included = entries(bundle, "include")
    assert [(e["resource"]["resourceType"], e["resource"]["id"]) for e in included] == [
        ("ServiceRequest", the_order["id"])
    ]
    assert included[0]["fullUrl"] == f"{BASE}/ServiceRequest/{the_order['id']}"


async def test_revinclude_adds_the_studies_based_on_each_order(client: httpx.AsyncClient) -> None:
    facility = await create(client, organization())
    subject = await create(client, patient())
    scanned = await create(client, order(subject, facility, "ACC-SCANNED"))
    pending = await create(client, order(subject, facility, "ACC-PENDING"))
    scans = [
        await create(client, study(scanned, subject, uid="1.2.840.113619.2.55.3.11")),
        await create(client, study(scanned, subject, uid="1.2.840.113619.2.55.3.12")),
    ]

    for revinclude in ("ImagingStudy:basedon", "ImagingStudy:basedon:ServiceRequest"):
        bundle = await search(client, "ServiceRequest", {"_revinclude": revinclude})

        assert set(match_ids(bundle)) == ids_of(scanned, pending)
        included = [e["resource"] for e in entries(bundle, "include")]
        assert sorted(r["id"] for r in included) == sorted(ids_of(*scans))
        assert {r["resourceType"] for r in included} == {"ImagingStudy"}


async def test_include_not_declared_for_the_type_is_refused(client: httpx.AsyncClient) -> None:
    for name, value in (
        ("_include", "ServiceRequest:performer"),
        ("_include", "Patient:organization"),
        ("_include", "ServiceRequest"),
        ("_include", "ServiceRequest:patient:Organization"),
        ("_revinclude", "ImagingStudy:patient"),
        ("_revinclude", "ImagingStudy:basedon:Patient"),
    ):
        response = await client.get("/ServiceRequest", params={name: value})

        assert_outcome(response, 400, mentions=name)
