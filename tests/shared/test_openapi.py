"""Each service's OpenAPI documents what its FHIR endpoints take: the type's search
parameters on searches, the resource a write expects, a Bundle for batches."""

from __future__ import annotations

from typing import Any

import httpx


async def _openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_a_search_lists_the_types_parameters_and_the_result_parameters(
    client: httpx.AsyncClient,
) -> None:
    paths = (await _openapi(client))["paths"]

    by_get = {p["name"] for p in paths["/fhir/Patient"]["get"]["parameters"]}
    form = paths["/fhir/Patient/_search"]["post"]["requestBody"]["content"]
    by_post = set(form["application/x-www-form-urlencoded"]["schema"]["properties"])

    assert {"family", "birthdate", "identifier", "_id", "_count", "_include"} <= by_get
    assert by_post == by_get


async def test_a_write_takes_its_own_resource_type_and_a_batch_a_bundle(
    client: httpx.AsyncClient,
) -> None:
    paths = (await _openapi(client))["paths"]

    def body(operation: dict[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = operation["requestBody"]["content"]["application/fhir+json"]
        return schema["schema"]

    create = body(paths["/fhir/Patient"]["post"])
    update = body(paths["/fhir/ServiceRequest/{id}"]["put"])
    batch = body(paths["/fhir"]["post"])

    assert create["properties"]["resourceType"]["enum"] == ["Patient"]
    assert update["properties"]["resourceType"]["enum"] == ["ServiceRequest"]
    assert batch["properties"]["type"]["enum"] == ["batch", "transaction"]
    assert "_since" in {p["name"] for p in paths["/fhir/Patient/_history"]["get"]["parameters"]}
