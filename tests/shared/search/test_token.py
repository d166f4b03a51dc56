"""Token search (FHIR R4 search 3.1.1.4.6): system|code, code, |code, system|, :not.

Over Identifier, CodeableConcept, code and boolean values; a comma ORs values, a repeated
parameter ANDs them.
"""

from __future__ import annotations

import httpx

from services.intake.tests.builders import CPT, order, ordering_setup, organization, patients
from tests.support.rest import create, found, ids_of

MRN_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
LOINC = "http://loinc.org"
CHEST_XRAY = {"system": LOINC, "code": "36643-5", "display": "XR Chest 2 Views"}
CHEST_XRAY_CPT = {"system": CPT, "code": "71046"}
CHEST_CT = {"system": LOINC, "code": "24627-2", "display": "CT Chest"}


async def _orders(client: httpx.AsyncClient) -> tuple[dict, dict, dict]:
    """An X-ray coded in LOINC and CPT (active), a CT in LOINC (draft), an X-ray in CPT only
    (on hold)."""
    subject, facility = await ordering_setup(client)
    xray_both = await create(
        client, order(subject, facility, "ACC-XR", code={"coding": [CHEST_XRAY, CHEST_XRAY_CPT]})
    )
    ct = await create(
        client, order(subject, facility, "ACC-CT", code={"coding": [CHEST_CT]}, status="draft")
    )
    xray_cpt = await create(
        client,
        order(subject, facility, "ACC-XR-CPT", code={"coding": [CHEST_XRAY_CPT]}, status="on-hold"),
    )
    return xray_both, ct, xray_cpt


async def test_system_and_code_matches_only_that_coding(client: httpx.AsyncClient) -> None:
    xray_both, _, _ = await _orders(client)

    assert await found(client, "ServiceRequest", {"code": f"{LOINC}|36643-5"}) == ids_of(xray_both)
    assert await found(client, "ServiceRequest", {"code": f"{CPT}|36643-5"}) == set()


async def test_code_without_system_matches_in_any_system(client: httpx.AsyncClient) -> None:
    xray_both, _, xray_cpt = await _orders(client)

    assert await found(client, "ServiceRequest", {"code": "71046"}) == ids_of(xray_both, xray_cpt)


async def test_system_with_empty_code_matches_every_code_of_that_system(
    client: httpx.AsyncClient,
) -> None:
    xray_both, ct, xray_cpt = await _orders(client)

    assert await found(client, "ServiceRequest", {"code": f"{LOINC}|"}) == ids_of(xray_both, ct)
    assert await found(client, "ServiceRequest", {"code": f"{CPT}|"}) == ids_of(xray_both, xray_cpt)


async def test_comma_separated_values_match_any_of_them(client: httpx.AsyncClient) -> None:
    xray_both, ct, xray_cpt = await _orders(client)

    assert await found(client, "ServiceRequest", {"status": "active,draft"}) == ids_of(
        xray_both, ct
    )
    assert await found(
        client, "ServiceRequest", {"code": f"{LOINC}|24627-2,{CPT}|71046"}
    ) == ids_of(xray_both, ct, xray_cpt)


async def test_repeated_parameter_requires_every_value(client: httpx.AsyncClient) -> None:
    xray_both, _, _ = await _orders(client)

    both = [("code", f"{LOINC}|36643-5"), ("code", f"{CPT}|71046")]
    assert await found(client, "ServiceRequest", both) == ids_of(xray_both)
    assert await found(client, "ServiceRequest", [("status", "active"), ("status", "draft")]) == (
        set()
    )


async def test_code_value_matches_the_element_code(client: httpx.AsyncClient) -> None:
    xray_both, ct, xray_cpt = await _orders(client)

    assert await found(client, "ServiceRequest", {"status": "on-hold"}) == ids_of(xray_cpt)
    # intake fills in the default priority, and it is searchable like a sent one
    assert await found(client, "ServiceRequest", {"priority": "routine"}) == ids_of(
        xray_both, ct, xray_cpt
    )


async def test_order_found_by_its_accession_number(client: httpx.AsyncClient) -> None:
    xray_both, ct, xray_cpt = await _orders(client)
    number = ct["identifier"][0]

    by_system_and_value = {"identifier": f"{number['system']}|{number['value']}"}
    assert await found(client, "ServiceRequest", by_system_and_value) == ids_of(ct)
    assert await found(client, "ServiceRequest", {"identifier": number["value"]}) == ids_of(ct)
    assert await found(client, "ServiceRequest", {"identifier": f"{number['system']}|"}) == ids_of(
        xray_both, ct, xray_cpt
    )


async def test_leading_bar_matches_only_identifiers_without_system(
    client: httpx.AsyncClient,
) -> None:
    unsystemed, with_system, other = await patients(
        client,
        {"identifier": [{"value": "X-1"}]},
        {"identifier": [{"system": MRN_SYSTEM, "value": "X-1"}]},
        {"identifier": [{"system": MRN_SYSTEM, "value": "X-2"}]},
    )

    assert await found(client, "Patient", {"identifier": "|X-1"}) == ids_of(unsystemed)
    assert await found(client, "Patient", {"identifier": "X-1"}) == ids_of(unsystemed, with_system)
    assert await found(client, "Patient", {"identifier": f"{MRN_SYSTEM}|X-1"}) == ids_of(
        with_system
    )
    assert await found(client, "Patient", {"identifier": f"{MRN_SYSTEM}|"}) == ids_of(
        with_system, other
    )


async def test_not_excludes_matches_and_keeps_resources_without_a_value(
    client: httpx.AsyncClient,
) -> None:
    _, male, unrecorded = await patients(client, {"gender": "female"}, {"gender": "male"}, {})

    assert await found(client, "Patient", {"gender:not": "female"}) == ids_of(male, unrecorded)
    assert await found(client, "Patient", {"gender:not": "female,male"}) == ids_of(unrecorded)


async def test_boolean_matches_true_and_false(client: httpx.AsyncClient) -> None:
    active = await create(client, organization(active=True))
    retired = await create(client, organization(name="Old Clinic", active=False))
    await create(client, organization(name="Unknown Status"))

    assert await found(client, "Organization", {"active": "true"}) == ids_of(active)
    assert await found(client, "Organization", {"active": "false"}) == ids_of(retired)
