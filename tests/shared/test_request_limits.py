"""What one request may ask: the query's length and parameters, the body's size on every
endpoint that reads one, the page size of searches and histories, and the resources
`_include` adds -- each refused or capped with an OperationOutcome, never a failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from services.gateway.app import create_app as create_gateway
from services.gateway.settings import GatewaySettings
from services.intake.tests.builders import facility, named, order, patient, patients
from services.sla.consumers import CONSUMPTIONS as SLA_CONSUMPTIONS
from shared.events.consumer import EVENTS_PATH
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app
from tests.support.rest import assert_outcome, create, entries, links, match_ids, search

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SMALL = {
    "max_request_bytes": 2048,
    "max_query_bytes": 512,
    "max_query_parameters": 10,
    "search_default_count": 2,
    "search_max_count": 3,
    "include_max": 2,
}


@pytest.fixture
async def small(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of intake with small limits (SMALL)."""
    async with (
        running_app("intake", make_settings("intake", **SMALL)) as app,
        client_for(app) as client,
    ):
        yield client


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    """A body without Content-Length: the server learns its size only by reading it."""
    for start in range(0, len(data), 512):
        yield data[start : start + 512]


# -- the query ----------------------------------------------------------------------------


async def test_an_over_long_query_is_414(small: httpx.AsyncClient) -> None:
    response = await small.get("/Patient", params={"family": "x" * 600})

    assert_outcome(response, 414, code="too-costly")


async def test_too_many_query_parameters_are_400(small: httpx.AsyncClient) -> None:
    params = [("gender", "female")] * 11

    response = await small.get("/Patient", params=params)

    assert_outcome(response, 400, code="too-costly")
    assert (await small.get("/Patient", params=params[:10])).status_code == 200


async def test_query_and_search_form_parameters_count_together(small: httpx.AsyncClient) -> None:
    query = "&".join(["gender=female"] * 6)
    form = "&".join(["gender=female"] * 5)

    response = await small.post(f"/Patient/_search?{query}", content=form, headers=FORM)

    assert_outcome(response, 400, code="too-costly")


async def test_a_search_form_that_is_not_utf8_is_400(small: httpx.AsyncClient) -> None:
    response = await small.post("/Patient/_search", content=b"family=\xff\xfe", headers=FORM)

    assert_outcome(response, 400)


# -- bodies -------------------------------------------------------------------------------


async def test_an_over_large_search_form_is_413_declared_or_streamed(
    small: httpx.AsyncClient,
) -> None:
    form = ("family=" + "x" * 4000).encode()

    declared = await small.post("/Patient/_search", content=form, headers=FORM)
    streamed = await small.post("/Patient/_search", content=_chunked(form), headers=FORM)

    assert_outcome(declared, 413)
    assert_outcome(streamed, 413)


async def test_an_over_large_bundle_is_413_streamed(small: httpx.AsyncClient) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"fullUrl": "x" * 4000}]}

    response = await small.post(
        "",
        content=_chunked(orjson.dumps(bundle)),
        headers={"Content-Type": "application/fhir+json"},
    )

    assert_outcome(response, 413)


async def test_a_body_sent_where_none_is_read_is_refused_when_it_says_it_is_over_large(
    small: httpx.AsyncClient,
) -> None:
    response = await small.request("DELETE", "/Patient/x", content=b"x" * 4000)

    assert_outcome(response, 413)


async def test_an_over_large_notification_is_413_at_the_event_endpoint(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    body = orjson.dumps({"resourceType": "Bundle", "type": "history", "id": "x" * 4000})
    async with (
        running_app("sla", make_settings("sla", max_request_bytes=2048)) as app,
        client_for(app, headers={}) as client,
    ):
        url = f"http://testserver{EVENTS_PATH}/{SLA_CONSUMPTIONS[0].name}"
        headers = {"Content-Type": "application/fhir+json"}
        declared = await client.post(url, content=body, headers=headers)
        streamed = await client.post(url, content=_chunked(body), headers=headers)

    assert_outcome(declared, 413)
    assert_outcome(streamed, 413)


# -- page sizes and includes --------------------------------------------------------------


async def test_count_is_capped_in_history_too(small: httpx.AsyncClient) -> None:
    await patients(small, *({} for _ in range(5)))

    response = await small.get("/Patient/_history", params={"_count": "1000000"})

    assert response.status_code == 200
    assert len(response.json()["entry"]) == 3
    assert "next" in links(response.json())


async def test_include_adds_at_most_include_max_resources(small: httpx.AsyncClient) -> None:
    requester = f"Organization/{(await create(small, facility()))['id']}"
    for number in range(3):
        subject = await create(small, patient(name=named(f"Included{number}")))
        await create(small, order(f"Patient/{subject['id']}", requester, f"ACC-{number}"))

    bundle = await search(
        small, "ServiceRequest", {"_include": "ServiceRequest:patient", "_count": "3"}
    )

    assert len(match_ids(bundle)) == 3
    assert len(entries(bundle, "include")) == 2


# -- the gateway --------------------------------------------------------------------------


@pytest.fixture
async def small_gateway() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with small limits and no service behind it: a refusal never reaches one."""
    values: dict[str, Any] = {"max_request_bytes": 2048, "max_query_bytes": 512}
    app: FastAPI = create_gateway(GatewaySettings(**values, max_query_parameters=10))
    async with LifespanManager(app), client_for(app) as client:
        yield client


async def test_the_gateway_refuses_over_long_queries_and_bodies_itself(
    small_gateway: httpx.AsyncClient,
) -> None:
    long_query = await small_gateway.get("/Patient", params={"family": "x" * 600})
    many = await small_gateway.get("/Patient", params=[("gender", "male")] * 11)
    body = orjson.dumps(patient(name=named("x" * 4000)))
    streamed = await small_gateway.post(
        "/Patient", content=_chunked(body), headers={"Content-Type": "application/fhir+json"}
    )

    assert_outcome(long_query, 414)
    assert_outcome(many, 400, code="too-costly")
    assert_outcome(streamed, 413)
