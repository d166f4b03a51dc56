"""The front door in front of the four real services, each running in this process behind
an `httpx.ASGITransport` (no ports): one FHIR base reaching every service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.gateway.app import REGISTRIES, create_app
from services.gateway.settings import GatewaySettings
from services.intake.tests.builders import (
    bundle,
    facility,
    order,
    patient,
    post_entry,
    registered_patient,
)
from shared.events.subscriptions import SIGNING_SECRET
from shared.events.topics import TOPIC_BASE
from shared.fhir.conformance import DEFINITION_TYPES
from shared.settings import ServiceSettings
from tests.fixtures import AUTH, BASE, client_for, start_app
from tests.shared.smart.test_discovery import smart_token_url
from tests.support.rest import (
    assert_outcome,
    count,
    create,
    found,
    ids_of,
    links,
    search,
    searchset,
)

SERVICES = tuple(r.service for r in REGISTRIES)
ORIGIN = BASE.removesuffix("/fhir")
TASK_CREATED = f"{TOPIC_BASE}/task-created"
Transports = Mapping[str, httpx.AsyncBaseTransport]

# One resource of each service's types, as a client sends it.
PRACTITIONER = {"resourceType": "Practitioner", "name": [{"family": "Okafor"}]}
TASK = {
    "resourceType": "Task",
    "status": "requested",
    "intent": "order",
    "focus": {"reference": "ServiceRequest/1"},
}
# (A DiagnosticReport is checked against its Task in assignment: see tests/e2e.)
COMMUNICATION = {"resourceType": "Communication", "status": "completed"}
MEASURE_REPORT = {
    "resourceType": "MeasureReport",
    "status": "complete",
    "type": "summary",
    "measure": "https://teleradiology.example.org/fhir/Measure/turnaround",
    "period": {"start": "2026-01-01", "end": "2026-01-31"},
}
OWNED = [
    (patient(gender="female"), "intake"),
    (PRACTITIONER, "assignment"),
    (TASK, "assignment"),
    (COMMUNICATION, "reporting"),
    (MEASURE_REPORT, "sla"),
]


@pytest.fixture
async def services(
    make_settings: Callable[..., ServiceSettings],
) -> AsyncIterator[dict[str, FastAPI]]:
    """The four services, started on this test's database backend."""
    apps: dict[str, FastAPI] = {}
    managers: list[LifespanManager] = []
    try:
        for service in SERVICES:
            settings = make_settings(
                service,
                subscription_allow_http=True,
                subscription_allowed_networks=["127.0.0.0/8"],
            )
            apps[service], manager = await start_app(service, settings)
            managers.append(manager)
        yield apps
    finally:
        for manager in reversed(managers):
            await manager.__aexit__(None, None, None)


@asynccontextmanager
async def front_door(transports: Transports) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of a gateway reaching each service through `transports`."""
    urls = {f"{service}_url": f"http://{service}.internal" for service in SERVICES}
    settings = GatewaySettings.model_validate({**urls, "metadata_cache_seconds": 0})
    app = create_app(settings, transports=transports)
    async with LifespanManager(app), client_for(app) as client:
        yield client


def in_process(services: Mapping[str, FastAPI]) -> dict[str, httpx.AsyncBaseTransport]:
    return {name: httpx.ASGITransport(app=app) for name, app in services.items()}


@pytest.fixture
async def gateway(services: dict[str, FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with front_door(in_process(services)) as client:
        yield client


def failing(error: type[httpx.TransportError]) -> httpx.MockTransport:
    """A service that cannot be reached: every request fails with `error`."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise error("the service is down", request=request)

    return httpx.MockTransport(fail)


# -- resource types -----------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "owner"), OWNED, ids=[r["resourceType"] for r, _ in OWNED])
async def test_create_read_and_search_reach_the_service_owning_the_type(
    gateway: httpx.AsyncClient,
    services: dict[str, FastAPI],
    resource: dict[str, Any],
    owner: str,
) -> None:
    resource_type = resource["resourceType"]
    created = await gateway.post(f"/{resource_type}", json=resource)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert created.headers["location"] == f"{BASE}/{resource_type}/{stored['id']}/_history/1"
    assert created.headers["etag"] == 'W/"1"'
    assert "last-modified" in created.headers

    read = await gateway.get(f"/{resource_type}/{stored['id']}")
    assert read.status_code == 200
    assert read.json() == stored
    assert read.headers["content-type"].startswith("application/fhir+json")
    assert await found(gateway, resource_type) == ids_of(stored)

    for service, app in services.items():
        async with client_for(app) as direct:
            answer = await direct.get(f"/{resource_type}/{stored['id']}")
        assert answer.status_code == (200 if service == owner else 404), service


async def test_conditional_headers_and_preferences_reach_the_service(
    gateway: httpx.AsyncClient,
) -> None:
    minimal = await gateway.post(
        "/Patient", json=registered_patient(), headers={"Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    patient_url = minimal.headers["location"].removeprefix(BASE).split("/_history")[0]
    stored = (await gateway.get(patient_url)).json()

    stale = await gateway.put(patient_url, json=stored, headers={"If-Match": 'W/"7"'})
    assert_outcome(stale, 412)
    current = await gateway.put(patient_url, json=stored, headers={"If-Match": 'W/"1"'})
    assert current.status_code == 200
    assert current.headers["etag"] == 'W/"2"'

    again = await gateway.post(
        "/Patient", json=patient(gender="male"), headers={"If-None-Exist": f"_id={stored['id']}"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == stored["id"]
    unauthenticated = await gateway.get(patient_url, headers={"Authorization": ""})
    assert_outcome(unauthenticated, 401)


async def test_paging_links_and_full_urls_point_at_the_front_door(
    gateway: httpx.AsyncClient,
) -> None:
    for gender in ("female", "male"):
        await create(gateway, patient(gender=gender))
    first = await search(gateway, "Patient", {"_count": "1"})
    assert first["entry"][0]["fullUrl"].startswith(f"{BASE}/Patient/")
    assert links(first)["next"].startswith(f"{BASE}/Patient?")
    second = searchset(await gateway.get(links(first)["next"]))
    assert second["entry"][0]["resource"]["id"] != first["entry"][0]["resource"]["id"]


async def test_a_type_no_service_serves_is_not_found(gateway: httpx.AsyncClient) -> None:
    for path in ("/Observation", "/Observation/1", "/docs"):
        assert_outcome(await gateway.get(path), 404, code="not-found")


# -- the CapabilityStatement --------------------------------------------------------------


async def test_metadata_lists_the_types_and_topics_of_every_service(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/metadata", headers={"Authorization": ""})
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["implementation"]["url"] == BASE
    resources = statement["rest"][0]["resource"]
    types = [r["type"] for r in resources]
    served = {t for r in REGISTRIES for t in r.types} | {"Subscription", *DEFINITION_TYPES}
    assert sorted(types) == sorted(served)
    (subscription,) = [r for r in resources if r["type"] == "Subscription"]
    topics = {e["valueCanonical"] for e in subscription["extension"]}
    assert topics == {t.url for r in REGISTRIES for t in r.topics}


async def test_metadata_names_the_token_url_the_smart_configuration_advertises(
    gateway: httpx.AsyncClient,
) -> None:
    anonymous = {"Authorization": ""}
    statement = (await gateway.get("/metadata", headers=anonymous)).json()
    configuration = await gateway.get("/.well-known/smart-configuration", headers=anonymous)

    assert configuration.status_code == 200
    # The services describe themselves at their internal addresses; the front door's
    # statement names the public token endpoint, as the (relayed) configuration does.
    assert smart_token_url(statement) == configuration.json()["token_endpoint"]
    assert smart_token_url(statement) == f"{ORIGIN}/auth/token"


# -- subscriptions ------------------------------------------------------------------------


def subscription(topic: str) -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "New assignments",
        "criteria": topic,
        "channel": {
            "type": "rest-hook",
            "endpoint": "http://127.0.0.1:9/notify",
            "payload": "application/fhir+json",
        },
        "extension": [{"url": SIGNING_SECRET, "valueString": "s" * 40}],
    }


async def test_a_subscription_is_kept_by_the_service_offering_its_topic(
    gateway: httpx.AsyncClient, services: dict[str, FastAPI]
) -> None:
    created = await create(gateway, subscription(TASK_CREATED))
    url = f"/Subscription/{created['id']}"
    for service, app in services.items():
        if service == "sla":
            continue  # offers no topic, serves no Subscription
        async with client_for(app) as direct:
            answer = await direct.get(url)
        assert answer.status_code == (200 if service == "assignment" else 404), service

    assert (await gateway.get(url)).json()["criteria"] == TASK_CREATED
    status = await gateway.get(f"{url}/$status")
    assert status.status_code == 200, status.text
    assert await found(gateway, "Subscription", {"criteria": TASK_CREATED}) == ids_of(created)
    assert (await gateway.delete(url)).status_code == 204
    assert_outcome(await gateway.get(url), 410)


async def test_a_subscription_no_service_can_keep_is_refused(
    gateway: httpx.AsyncClient,
) -> None:
    unknown_topic = await gateway.post("/Subscription", json=subscription(f"{TOPIC_BASE}/nope"))
    assert_outcome(unknown_topic, 400, expression="Subscription.criteria")
    assert_outcome(await gateway.get("/Subscription"), 400, expression="criteria")
    assert_outcome(await gateway.get("/Subscription/no-such-id"), 404)


# -- Bundles ------------------------------------------------------------------------------


async def test_a_transaction_goes_whole_to_the_service_owning_its_entries(
    gateway: httpx.AsyncClient,
) -> None:
    requester = await create(gateway, facility())
    placed = bundle(
        "transaction",
        post_entry(registered_patient(), "urn:uuid:patient"),
        post_entry(order("urn:uuid:patient", requester), "urn:uuid:order"),
    )
    response = await gateway.post("", json=placed)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 2
    assert await count(gateway, "ServiceRequest") == 1


async def test_a_bundle_spanning_services_is_refused_and_nothing_is_written(
    gateway: httpx.AsyncClient,
) -> None:
    for bundle_type in ("transaction", "batch"):
        mixed = bundle(bundle_type, post_entry(patient()), post_entry(TASK))
        response = await gateway.post("/", json=mixed)
        assert_outcome(response, 400, expression="Bundle.entry[1]", mentions="cannot span")
    assert await count(gateway, "Patient") == 0
    assert await count(gateway, "Task") == 0


# -- failures and probes ------------------------------------------------------------------


async def test_a_service_that_cannot_be_reached_is_a_502_while_the_others_answer(
    services: dict[str, FastAPI],
) -> None:
    transports = {**in_process(services), "sla": failing(httpx.ConnectError)}
    async with front_door(transports) as gateway:
        down = await gateway.get("/MeasureReport")
        assert_outcome(down, 502, code="transient", mentions="sla")
        assert (await gateway.get("/Patient")).status_code == 200
        assert_outcome(await gateway.get("/metadata"), 502, mentions="sla")
        assert_outcome(await gateway.get(ORIGIN + "/readyz"), 503, mentions="sla")


async def test_a_service_too_slow_to_answer_is_a_504(services: dict[str, FastAPI]) -> None:
    transports = {**in_process(services), "reporting": failing(httpx.ReadTimeout)}
    async with front_door(transports) as gateway:
        assert_outcome(await gateway.get("/DiagnosticReport"), 504, code="timeout")


async def test_the_front_door_is_ready_when_every_service_is(
    gateway: httpx.AsyncClient,
) -> None:
    assert (await gateway.get(ORIGIN + "/healthz")).status_code == 200
    assert (await gateway.get(ORIGIN + "/readyz")).status_code == 200


class Recording(httpx.AsyncBaseTransport):
    """A transport that keeps every request it passes on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


async def test_the_service_gets_the_clients_headers_in_the_front_doors_trace(
    services: dict[str, FastAPI],
) -> None:
    intake = Recording(httpx.ASGITransport(app=services["intake"]))
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client_trace = "0af7651916cd43dd8448eb211c80319c"
    sent = {
        "traceparent": f"00-{client_trace}-b7ad6b7169203331-01",
        "Accept": "application/json",
        "X-Forwarded-For": "203.0.113.7",
    }
    try:
        async with front_door({**in_process(services), "intake": intake}) as gateway:
            response = await gateway.get("/Patient?gender=female&_count=5", headers=sent)
    finally:
        exporter.shutdown()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    (received,) = intake.requests
    assert received.url.path == "/fhir/Patient"
    assert received.url.query == b"gender=female&_count=5"
    assert received.headers["authorization"] == AUTH["Authorization"]
    assert received.headers["accept"] == "application/json"
    assert received.headers["host"] == received.headers["x-forwarded-host"] == "testserver"
    assert received.headers["x-forwarded-for"].startswith("203.0.113.7, ")
    (front,) = [s for s in exporter.get_finished_spans() if s.name == "GET /fhir/{path:path}"]
    assert front.context.trace_id == int(client_trace, 16)
    assert received.headers["traceparent"] == f"00-{client_trace}-{front.context.span_id:016x}-01"
