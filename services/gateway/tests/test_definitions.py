"""The platform's own definitions at the front door: read and searched without a token and
without any service behind, refused for every other interaction, and listed in the
CapabilityStatement, which stays a valid R4 statement (each service's too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from services.assignment.conformance import READ_MODALITY, READ_TASK, SUBSPECIALTY
from services.gateway.app import REGISTRIES
from services.gateway.capability import at_base, merge_capability_statements
from services.gateway.definitions import PLATFORM_DEFINITIONS, with_definitions
from services.gateway.routing import RouteTable, bundle_owner
from services.gateway.tests.test_capability import resources_of, service_statements
from services.gateway.tests.test_front_door import SERVICES, failing, front_door
from services.intake.conformance import ORDERING_FACILITY
from services.intake.tests.builders import bundle, post_entry
from services.sla.conformance import TURNAROUND
from shared.audit.conformance import CLIENT_ID
from shared.fhir.conformance import DEFINITION_TYPES, Catalogue
from shared.fhir.outcomes import FhirError
from tests.fixtures import BASE
from tests.support.rest import assert_outcome, links, match_ids, query_of, searchset

ANONYMOUS = {"Authorization": ""}
CATALOGUE = Catalogue(PLATFORM_DEFINITIONS, version="0.1.0", date="2026-11-29T00:00:00Z")


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    """A front door whose services cannot be reached: definitions need none of them."""
    down = {service: failing(httpx.ConnectError) for service in SERVICES}
    async with front_door(down) as client:
        yield client


async def test_an_extension_is_read_by_id_without_a_token(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"/StructureDefinition/{ORDERING_FACILITY.id}", headers=ANONYMOUS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    definition = response.json()
    assert definition["url"] == ORDERING_FACILITY.url
    assert definition["type"] == "Extension"
    get_fhir_model_class("StructureDefinition").model_validate(definition)


async def test_each_kind_of_definition_is_read_at_its_type(gateway: httpx.AsyncClient) -> None:
    for resource_type, declared in (
        ("CodeSystem", SUBSPECIALTY),
        ("NamingSystem", READ_TASK),
        ("OperationDefinition", TURNAROUND),
    ):
        response = await gateway.get(f"/{resource_type}/{declared.id}")
        assert response.status_code == 200, response.text
        assert response.json()["resourceType"] == resource_type
    assert_outcome(await gateway.get("/CodeSystem/read-modality"), 404, code="not-found")


async def test_a_search_by_url_finds_the_definition_a_resource_names(
    gateway: httpx.AsyncClient,
) -> None:
    found = searchset(await gateway.get("/StructureDefinition", params={"url": READ_MODALITY.url}))
    assert found["total"] == 1
    (entry,) = found["entry"]
    assert entry["fullUrl"] == f"{BASE}/StructureDefinition/read-modality"
    assert entry["search"] == {"mode": "match"}
    assert query_of(links(found)["self"]) == [("url", READ_MODALITY.url)]


async def test_a_search_without_criteria_lists_every_definition_of_the_type(
    gateway: httpx.AsyncClient,
) -> None:
    for resource_type in DEFINITION_TYPES:
        found = searchset(await gateway.get(f"/{resource_type}"))
        assert sorted(match_ids(found)) == sorted(
            d.id for d in PLATFORM_DEFINITIONS if d.resource_type == resource_type
        )


async def test_an_identifier_system_is_found_by_its_uri(gateway: httpx.AsyncClient) -> None:
    found = searchset(await gateway.get("/NamingSystem", params={"value:exact": CLIENT_ID.url}))
    assert match_ids(found) == ["client-id"]


async def test_a_search_may_be_posted_as_a_form(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/CodeSystem/_search", data={"_id": "subspecialty,contract-kind"})
    assert sorted(match_ids(searchset(response))) == ["contract-kind", "subspecialty"]


async def test_an_unknown_search_parameter_is_refused_unless_lenient(
    gateway: httpx.AsyncClient,
) -> None:
    assert_outcome(await gateway.get("/CodeSystem", params={"name": "x"}), 400)
    lenient = await gateway.get(
        "/CodeSystem", params={"name": "x"}, headers={"Prefer": "handling=lenient"}
    )
    assert len(match_ids(searchset(lenient))) == len(CATALOGUE.of_type("CodeSystem"))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/StructureDefinition"),
        ("PUT", "/StructureDefinition/ordering-facility"),
        ("DELETE", "/CodeSystem/subspecialty"),
        ("PATCH", "/CodeSystem/subspecialty"),
        ("PUT", "/CodeSystem?url=x"),
        ("GET", "/StructureDefinition/ordering-facility/_history"),
        ("GET", "/StructureDefinition/ordering-facility/_history/1"),
        ("GET", "/OperationDefinition/_history"),
    ],
)
async def test_every_other_interaction_is_405_with_an_outcome(
    gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    body = {"resourceType": "StructureDefinition"} if method in ("POST", "PUT") else None
    response = await gateway.request(method, path, json=body)
    assert_outcome(response, 405, code="not-supported")


def test_a_bundle_entry_writing_a_definition_is_refused() -> None:
    entry = post_entry({"resourceType": "CodeSystem", "status": "active"})
    with pytest.raises(FhirError) as refused:
        bundle_owner(RouteTable.from_registries(REGISTRIES), bundle("batch", entry), BASE)
    assert refused.value.status == 400
    assert "read-only" in str(refused.value)


# -- the CapabilityStatement --------------------------------------------------------------


def valid_statement(statement: dict[str, Any]) -> None:
    get_fhir_model_class("CapabilityStatement").model_validate(statement)


def test_each_services_statement_is_a_valid_r4_capability_statement() -> None:
    for statement in service_statements():
        valid_statement(statement)
        assert not set(resources_of(statement)) & set(DEFINITION_TYPES)


def test_the_front_doors_statement_lists_the_definitions_read_only_and_stays_valid() -> None:
    merged = merge_capability_statements(service_statements(), software_version="0.1.0")
    statement = at_base(
        with_definitions(merged, CATALOGUE), "https://fhir.example.org/fhir", "https://x/token"
    )
    valid_statement(statement)
    resources = resources_of(statement)
    for resource_type in DEFINITION_TYPES:
        entry = resources[resource_type]
        assert entry["interaction"] == [{"code": "read"}, {"code": "search-type"}]
        documented = entry["documentation"]
        for definition in PLATFORM_DEFINITIONS:
            if definition.resource_type == resource_type:
                assert definition.url in documented
    assert {p["name"] for p in resources["StructureDefinition"]["searchParam"]} == {"_id", "url"}
    assert {p["name"] for p in resources["NamingSystem"]["searchParam"]} == {"_id", "value"}
    # Every operation the statement names is one a client can now resolve.
    named = {o["definition"] for o in statement["rest"][0]["operation"]}
    assert TURNAROUND.url in named
    assert named <= {d.url for d in PLATFORM_DEFINITIONS}
