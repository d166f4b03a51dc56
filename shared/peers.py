"""Calls from one service to another over FHIR REST.

A service that needs another's resource reads it over HTTP -- never from the other's
tables -- with the bearer token from `SERVICE_TOKEN` and the current trace context (httpx
is instrumented, see shared/telemetry.py), so the call joins the caller's trace. Failures
become `PeerUnavailable`: a consumer answers 503 and the notification is retried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from shared.fhir.http import FHIR_JSON
from shared.settings import ServiceSettings


class PeerUnavailable(RuntimeError):
    """Another service did not answer as expected; worth retrying later."""


class Peers:
    """FHIR clients for the platform's other services, built in the app's lifespan."""

    def __init__(self, settings: ServiceSettings, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(
            timeout=timeout,
            trust_env=False,
            headers={
                "Authorization": f"Bearer {settings.service_token.get_secret_value()}",
                "Accept": FHIR_JSON,
            },
        )

    def base(self, service: str) -> str:
        """The FHIR base URL of `service` as this service reaches it."""
        return f"{self.settings.service_urls[service]}{self.settings.fhir_base_path}"

    async def read(self, service: str, reference: str) -> dict[str, Any] | None:
        """The resource `Type/id` kept by `service`; None when it is unknown or deleted."""
        response = await self._send("GET", f"{self.base(service)}/{reference}")
        if response.status_code in (404, 410):
            return None
        return self._json(response, reference)

    async def get(
        self, service: str, path: str, *, params: dict[str, str]
    ) -> dict[str, Any] | None:
        """The answer of `GET <service base>/<path>` (e.g. an operation); None when the
        target is unknown or deleted."""
        response = await self._send("GET", f"{self.base(service)}/{path}", params=params)
        if response.status_code in (404, 410):
            return None
        return self._json(response, path.split("/")[0])

    async def readable_by(self, service: str, reference: str, authorization: str) -> bool:
        """Whether the caller presenting `authorization` may read `reference` at `service`
        (asked with the caller's own credential, so `service`'s tenant rules decide)."""
        response = await self._send(
            "GET", f"{self.base(service)}/{reference}", headers={"Authorization": authorization}
        )
        if response.status_code in (401, 403, 404, 410):
            return False
        self._json(response, reference)
        return True

    async def search(
        self, service: str, resource_type: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        """The matching resources of the first page of a search at `service`."""
        response = await self._send("GET", f"{self.base(service)}/{resource_type}", params=params)
        return _matches(self._json(response, resource_type))

    async def search_all(
        self, service: str, resource_type: str, params: dict[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching resource at `service`, page after page."""
        url: str | None = f"{self.base(service)}/{resource_type}"
        query: Any = params
        while url is not None:
            bundle = self._json(await self._send("GET", url, params=query), resource_type)
            for resource in _matches(bundle):
                yield resource
            following = next(
                (
                    link["url"]
                    for link in bundle.get("link") or []
                    if link.get("relation") == "next"
                ),
                None,
            )
            # Paging links name the public base; ask this service directly, same query.
            url = f"{self.base(service)}/{resource_type}" if following else None
            query = httpx.URL(following).params if following else None

    async def put(
        self, service: str, path: str, resource: dict[str, Any], *, params: dict[str, str]
    ) -> dict[str, Any]:
        """A (conditional) update at `service`; the stored resource."""
        response = await self._send(
            "PUT",
            f"{self.base(service)}/{path}",
            params=params,
            json=resource,
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
        )
        return self._json(response, path)

    async def create(self, service: str, resource: dict[str, Any]) -> dict[str, Any]:
        """A create at `service`; the stored resource -- the one already holding a unique
        identifier `resource` re-sends, when there is one (so a retried create is safe)."""
        response = await self._send(
            "POST",
            f"{self.base(service)}/{resource['resourceType']}",
            json=resource,
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
        )
        return self._json(response, str(resource["resourceType"]))

    async def update(
        self, service: str, resource: dict[str, Any], *, version: str | None = None
    ) -> dict[str, Any] | None:
        """An update of `resource` (its id) at `service`; the stored resource. With
        `version`, only if that is still the current version: None when it is not."""
        path = f"{resource['resourceType']}/{resource['id']}"
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=representation"}
        if version is not None:
            headers["If-Match"] = f'W/"{version}"'
        response = await self._send(
            "PUT", f"{self.base(service)}/{path}", json=resource, headers=headers
        )
        if version is not None and response.status_code in (409, 412):
            return None
        return self._json(response, path)

    async def post(self, service: str, path: str, resource: dict[str, Any]) -> dict[str, Any]:
        """POST `resource` to `path` at `service` (e.g. an `$operation` with a Parameters
        body); the answer's resource."""
        response = await self._send(
            "POST",
            f"{self.base(service)}/{path}",
            json=resource,
            headers={"Content-Type": FHIR_JSON},
        )
        return self._json(response, path)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise PeerUnavailable(
                f"{method} {url.split('?')[0]}: {type(error).__name__}"
            ) from error

    @staticmethod
    def _json(response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 300:
            raise PeerUnavailable(f"{what}: HTTP {response.status_code}{_diagnostics(response)}")
        body = response.json()
        if not isinstance(body, dict):
            raise PeerUnavailable(f"{what}: not a FHIR resource")
        return body


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The matches of a searchset page (not its included resources)."""
    return [
        entry["resource"]
        for entry in bundle.get("entry") or []
        if (entry.get("search") or {}).get("mode", "match") == "match" and "resource" in entry
    ]


def _diagnostics(response: httpx.Response) -> str:
    """The first issue's diagnostics of an OperationOutcome answer (the platform's own
    outcomes carry no PHI), shortened, for the operator's log."""
    try:
        body = response.json()
    except ValueError:
        return ""
    issues = body.get("issue") if isinstance(body, dict) else None
    first = issues[0] if isinstance(issues, list) and issues else {}
    text = str(first.get("diagnostics") or "") if isinstance(first, dict) else ""
    return f" ({text[:200]})" if text else ""
