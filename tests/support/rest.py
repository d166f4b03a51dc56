"""Steps of the FHIR REST API that tests share: writes that must succeed, counts, searches
that must answer a searchset, and the shape of an error OperationOutcome.

Each step asserts the HTTP status and the shape of the answer once, here, so each test can
state only what it proves. What is sent is built in services/intake/tests/builders.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import FastAPI

from tests.fixtures import client_for

FHIR_JSON = "application/fhir+json"

Params = dict[str, str] | list[tuple[str, Any]]  # a list for repeated parameters


# -- writes -----------------------------------------------------------------------------


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """POST `resource`, insist on 201, and return it as stored (server id and meta)."""
    response = await client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def put(client: httpx.AsyncClient, resource: dict[str, Any]) -> httpx.Response:
    """PUT `resource` to its own id, whatever the answer."""
    return await client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)


async def update(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """PUT `resource`, insist on 200, and return it as stored."""
    response = await put(client, resource)
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()
    return stored


async def delete(client: httpx.AsyncClient, resource: dict[str, Any]) -> None:
    """DELETE the stored `resource` and insist that it succeeded."""
    response = await client.delete(f"/{resource['resourceType']}/{resource['id']}")
    assert response.status_code in (200, 204), response.text


async def post_at_once(
    app: FastAPI, url: str, bodies: Iterable[dict[str, Any]]
) -> list[httpx.Response]:
    """POST every body to `url` at the same moment, each over its own client (as separate
    EHR connections do), and return the answers in the order of `bodies`."""

    async def send(body: dict[str, Any]) -> httpx.Response:
        async with client_for(app) as own_client:
            return await own_client.post(url, json=body)

    return list(await asyncio.gather(*(send(body) for body in bodies)))


# -- counting ---------------------------------------------------------------------------


async def versions_written(client: httpx.AsyncClient, resource_type: str) -> int:
    """How many versions of `resource_type` were ever written (type history total)."""
    response = await client.get(f"/{resource_type}/_history")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


async def count(client: httpx.AsyncClient, resource_type: str, **params: str) -> int:
    """How many current resources of a type match `params` (a search total)."""
    bundle = await search(client, resource_type, {**params, "_summary": "count"})
    return int(bundle["total"])


# -- searching --------------------------------------------------------------------------


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
    """`response` is a 200 searchset Bundle; the Bundle."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    bundle: dict[str, Any] = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    return bundle


def entries(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    """The Bundle's entries of that search mode (match or include)."""
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
    """The ids of stored resources, to compare with what a search found."""
    return {r["id"] for r in resources}


def links(bundle: dict[str, Any]) -> dict[str, str]:
    """The Bundle's links by relation (self, next, previous)."""
    return {link["relation"]: link["url"] for link in bundle.get("link", [])}


def query_of(url: str) -> list[tuple[str, str]]:
    """The query parameters of a link, in order."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


# -- errors -----------------------------------------------------------------------------


def assert_outcome(
    response: httpx.Response,
    status: int,
    *,
    code: str | None = None,
    expression: str | None = None,
    mentions: str | None = None,
) -> dict[str, Any]:
    """`response` is an OperationOutcome error with `status`, and leaks no stack trace.

    With `code`, some issue has that code; with `expression`, some issue names that element;
    with `mentions`, some issue's diagnostics contain it or its expression names it.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    outcome: dict[str, Any] = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issues = outcome["issue"]
    assert issues
    assert all(i["severity"] in ("error", "fatal") for i in issues)
    if code is not None:
        assert code in [i["code"] for i in issues], issues
    if expression is not None:
        expressions = [e for i in issues for e in i.get("expression", [])]
        assert expression in expressions, issues
    if mentions is not None:
        assert any(
            mentions in i.get("diagnostics", "") or mentions in i.get("expression", [])
            for i in issues
        ), outcome
    return outcome
