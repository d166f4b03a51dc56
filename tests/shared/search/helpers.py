"""What the search tests share: resource builders that pass intake's rules, and search steps.

Every builder POSTs through the API (so index rows are written exactly as in production)
and returns the stored resource. Search steps assert the HTTP status and the Bundle shape
once, here, so each test can state only what it proves.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit
from uuid import uuid4

import httpx

from services.intake.codes import IDENTIFIER_TYPE_SYSTEM, ORDERING_FACILITY_EXTENSION

FHIR_JSON = "application/fhir+json"
BASE_URL = "http://testserver/fhir"
ACCESSION_SYSTEM = "urn:oid:2.16.840.1.113883.19.5.1"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
CHEST_XRAY = {"system": LOINC, "code": "36643-5", "display": "XR Chest 2 Views"}
CHEST_XRAY_CPT = {"system": CPT, "code": "71046"}
CHEST_CT = {"system": LOINC, "code": "24627-2", "display": "CT Chest"}

Params = dict[str, str] | list[tuple[str, str]]


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """POST `resource` and return it as stored (server id and meta)."""
    response = await client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    return stored


async def update(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()
    return stored


async def delete(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    response = await client.delete(f"/{resource['resourceType']}/{resource['id']}")
    assert response.status_code in (200, 204), response.text


async def organization(client: httpx.AsyncClient, **elements: Any) -> dict[str, Any]:
    return await create(
        client, {"resourceType": "Organization", "name": "Valley Imaging", **elements}
    )


async def patient(client: httpx.AsyncClient, **elements: Any) -> dict[str, Any]:
    return await create(client, {"resourceType": "Patient", **elements})


async def patients(client: httpx.AsyncClient, *many: dict[str, Any]) -> list[dict[str, Any]]:
    return [await patient(client, **elements) for elements in many]


def named(family: str, *given: str) -> list[dict[str, Any]]:
    """A Patient.name list with one HumanName."""
    name: dict[str, Any] = {"family": family}
    if given:
        name["given"] = list(given)
    return [name]


def accession(value: str) -> dict[str, Any]:
    """An accession number identifier (what makes an order acceptable to intake)."""
    return {
        "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "ACSN"}]},
        "system": ACCESSION_SYSTEM,
        "value": value,
    }


def ref(resource: dict[str, Any]) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


async def order(
    client: httpx.AsyncClient,
    subject: dict[str, Any],
    facility: dict[str, Any] | None = None,
    *,
    via_extension: bool = False,
    codings: tuple[dict[str, str], ...] = (CHEST_XRAY,),
    **elements: Any,
) -> dict[str, Any]:
    """A ServiceRequest for `subject`, ordered by `facility` (as requester, or through the
    ordering-facility extension when `via_extension`)."""
    body: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [accession(f"ACC-{uuid4().hex[:12]}")],
        "status": "active",
        "intent": "order",
        "code": {"coding": list(codings)},
        "subject": ref(subject),
    }
    if facility is not None and via_extension:
        body["extension"] = [{"url": ORDERING_FACILITY_EXTENSION, "valueReference": ref(facility)}]
    elif facility is not None:
        body["requester"] = ref(facility)
    body.update(elements)
    return await create(client, body)


async def study(
    client: httpx.AsyncClient, based_on: dict[str, Any], **elements: Any
) -> dict[str, Any]:
    """An ImagingStudy acquired for the order `based_on`, of the order's patient."""
    return await create(
        client,
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": based_on["subject"],
            "basedOn": [ref(based_on)],
            **elements,
        },
    )


# -- searching ---------------------------------------------------------------------------


async def search(
    client: httpx.AsyncClient,
    resource_type: str,
    params: Params | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """GET a search and return its searchset Bundle."""
    response = await client.get(f"/{resource_type}", params=params, headers=headers)
    return searchset(response)


async def follow(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """GET a Bundle link (an absolute URL on this server)."""
    return searchset(await client.get(url))


def searchset(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    bundle: dict[str, Any] = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    return bundle


def entries(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def match_ids(bundle: dict[str, Any]) -> list[str]:
    """Ids of the matches, in Bundle order."""
    return [e["resource"]["id"] for e in entries(bundle)]


async def found(
    client: httpx.AsyncClient, resource_type: str, params: Params | None = None
) -> set[str]:
    """Ids of every match of a search that fits on one page."""
    bundle = await search(client, resource_type, params)
    ids = match_ids(bundle)
    assert len(ids) == len(set(ids)), "a resource matched twice"
    assert "next" not in links(bundle), "the test data should fit on one page"
    return set(ids)


def ids_of(*resources: dict[str, Any]) -> set[str]:
    return {r["id"] for r in resources}


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle.get("link", [])}


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def assert_outcome(
    response: httpx.Response, status: int, *, mentions: str | None = None
) -> dict[str, Any]:
    """`response` is an error OperationOutcome with `status`; with `mentions`, some issue's
    diagnostics or expression names it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    outcome: dict[str, Any] = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(i["severity"] in ("error", "fatal") for i in outcome["issue"])
    if mentions is not None:
        assert any(
            mentions in i.get("diagnostics", "") or mentions in i.get("expression", [])
            for i in outcome["issue"]
        ), outcome
    return outcome
