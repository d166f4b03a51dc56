"""Small helpers for tests of the FHIR REST API: creating resources, checking outcomes."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"


def patient(**elements: Any) -> dict[str, Any]:
    """A Patient body (no business rules apply to Patient)."""
    return {"resourceType": "Patient", **elements}


def organization(**elements: Any) -> dict[str, Any]:
    """An Organization body (no business rules apply to Organization)."""
    return {"resourceType": "Organization", **elements}


def identifier(value: str, system: str = "urn:test:patient") -> list[dict[str, str]]:
    """A plain (untyped, so not kept unique) identifier list."""
    return [{"system": system, "value": value}]


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """POST `resource` and return what the server stored."""
    response = await client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def versions_written(client: httpx.AsyncClient, resource_type: str) -> int:
    """How many versions of `resource_type` were ever written (type history total)."""
    response = await client.get(f"/{resource_type}/_history")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def assert_outcome(
    response: httpx.Response,
    status: int,
    *,
    code: str | None = None,
    expression: str | None = None,
) -> dict[str, Any]:
    """`response` is an OperationOutcome error with `status`, and leaks no stack trace.

    With `expression`, some issue names that element; with `code`, some issue has that code.
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
    return outcome
