"""The services behind the front door: how a request is relayed to one and its answer back.

A request keeps its method, path, query, body and headers (Authorization, Accept,
Content-Type, Prefer, If-Match, If-None-Exist, ...). Hop-by-hop headers are dropped,
X-Forwarded-For/-Proto/-Host are added as reverse proxies conventionally do, and
`traceparent` names the front door's span, so the service's span is its child whatever
the transport (over the network the httpx instrumentation then puts its client span there).

The answer keeps its status, headers (Location, ETag, Last-Modified, Content-Type) and
body. No URL is rewritten: the services write the front door's address into `Location`,
`fullUrl` and paging links themselves, because they run with PUBLIC_BASE_URL set to the
gateway's origin (as `make run` does) -- or, without it, from the Host header, which is
passed through unchanged.

A service that cannot be reached is a 502 OperationOutcome, one too slow a 504.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request, Response
from opentelemetry import propagate

from shared.fhir.http import FHIR_JSON
from shared.fhir.outcomes import FhirError, bad_gateway, gateway_timeout, not_found

log = logging.getLogger("teleradiology.gateway")

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# httpx sets its own length and (de)compression; the forwarding headers are recomputed.
_NOT_FORWARDED = _HOP_BY_HOP | {
    "content-length",
    "accept-encoding",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
}
# The body is relayed decoded and measured again; this server sends its own date/server.
_NOT_RELAYED = _HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}
# What a lookup on the client's behalf carries: who asks, and the trace it belongs to.
_LOOKUP_HEADERS = frozenset({"authorization", "traceparent", "tracestate", "host"})
_PROBE_TIMEOUT_SECONDS = 5.0


def forwarded_headers(request: Request) -> list[tuple[str, str]]:
    """The client's headers as the service should see them, in this request's trace."""
    trace_context: dict[str, str] = {}
    propagate.inject(trace_context)  # the front door's span; the client's when not tracing
    headers = [
        (k, v)
        for k, v in request.headers.items()
        if k not in _NOT_FORWARDED and k not in trace_context
    ]
    headers += trace_context.items()
    client = request.client.host if request.client else None
    chain = [h for h in (request.headers.get("x-forwarded-for"), client) if h]
    if chain:
        headers.append(("x-forwarded-for", ", ".join(chain)))
    headers.append(("x-forwarded-proto", request.url.scheme))
    if "host" in request.headers:
        headers.append(("x-forwarded-host", request.headers["host"]))
    return headers


def relayed_response(upstream: httpx.Response) -> Response:
    """The service's answer as this server's: status, headers and body."""
    response = Response(content=upstream.content, status_code=upstream.status_code)
    response.raw_headers.extend(
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream.headers.multi_items()
        if name.lower() not in _NOT_RELAYED
    )
    return response


@dataclass(frozen=True)
class Upstreams:
    """One httpx client per service (built in the app's lifespan), by service name."""

    clients: dict[str, httpx.AsyncClient]
    origins: dict[str, str]
    fhir_base_path: str

    async def send(
        self,
        service: str,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        wait_seconds: float | None = None,
    ) -> httpx.Response:
        """One request to `service` at `path` (absolute, e.g. /fhir/Patient); a transport
        failure is raised as the OperationOutcome the client sees."""
        url = self.origins[service] + path + (f"?{query}" if query else "")
        extra: dict[str, Any] = {} if wait_seconds is None else {"timeout": wait_seconds}
        try:
            return await self.clients[service].request(
                method, url, headers=list(headers), content=body or None, **extra
            )
        except httpx.TimeoutException:
            log.warning("upstream timed out", extra={"upstream": service})
            raise gateway_timeout(f"The {service} service did not answer in time") from None
        except httpx.HTTPError as exc:
            log.warning(
                "upstream unreachable",
                extra={"upstream": service, "error_type": type(exc).__name__},
            )
            raise bad_gateway(f"The {service} service is not available") from None

    async def forward(self, request: Request, service: str, body: bytes) -> Response:
        """Relay `request` (whose body was read as `body`) to `service` unchanged."""
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        upstream = await self.send(
            service,
            request.method,
            path,
            query=request.url.query,
            headers=forwarded_headers(request),
            body=body,
        )
        return relayed_response(upstream)

    async def find_subscription(
        self, request: Request, resource_id: str, services: Sequence[str]
    ) -> str:
        """The service holding Subscription/`resource_id`: each service serving
        Subscription is asked to read it (ids are UUIDs, so at most one has it); the first
        whose answer is not 404 -- a 200, a 410 for a deleted one, a 401 or 403 for the
        client's credentials -- owns the request."""
        path = f"{self.fhir_base_path}/Subscription/{quote(resource_id, safe='')}"
        headers = [(k, v) for k, v in forwarded_headers(request) if k in _LOOKUP_HEADERS]
        headers.append(("accept", FHIR_JSON))
        answers = await asyncio.gather(
            *(
                self.send(s, "GET", path, headers=headers, wait_seconds=_PROBE_TIMEOUT_SECONDS)
                for s in services
            ),
            return_exceptions=True,
        )
        failures: list[FhirError] = []
        for service, answer in zip(services, answers, strict=True):
            if isinstance(answer, httpx.Response):
                if answer.status_code != 404:
                    return service
            elif isinstance(answer, FhirError):
                failures.append(answer)
            else:
                raise answer
        if failures:  # a service that could not answer may be the one holding it
            raise failures[0]
        raise not_found(f"Subscription/{resource_id} is not known")

    async def capability_statements(self) -> list[dict[str, Any]]:
        """Every service's CapabilityStatement, in service order."""
        path = f"{self.fhir_base_path}/metadata"
        services = list(self.clients)
        answers = await asyncio.gather(
            *(self.send(s, "GET", path, headers=[("accept", FHIR_JSON)]) for s in services),
            return_exceptions=True,
        )
        statements = []
        for service, answer in zip(services, answers, strict=True):
            if isinstance(answer, BaseException):
                raise answer
            if answer.status_code != 200:
                log.warning(
                    "upstream metadata failed",
                    extra={"upstream": service, "status": answer.status_code},
                )
                raise bad_gateway(f"The {service} service did not describe itself")
            try:
                statements.append(answer.json())
            except ValueError:
                raise bad_gateway(f"The {service} service did not describe itself") from None
        return statements

    async def not_ready(self) -> list[str]:
        """The services whose /readyz does not answer 200."""
        services = list(self.clients)
        answers = await asyncio.gather(
            *(
                self.send(s, "GET", "/readyz", wait_seconds=_PROBE_TIMEOUT_SECONDS)
                for s in services
            ),
            return_exceptions=True,
        )
        return [
            service
            for service, answer in zip(services, answers, strict=True)
            if not (isinstance(answer, httpx.Response) and answer.status_code == 200)
        ]
