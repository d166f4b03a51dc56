"""The front door's endpoints: the probes, the merged CapabilityStatement, the platform's
own definitions (see definitions.py), every other request under the FHIR base relayed to
the service that owns it (see routing.py), and the token endpoint (`POST /auth/token`)
relayed to the service hosting it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from services.gateway.capability import at_base, merge_capability_statements
from services.gateway.definitions import answer, with_definitions
from services.gateway.routing import (
    TOKEN_SERVICE,
    RouteKind,
    RouteTable,
    bundle_owner,
    route,
    subscription_owner,
    subscription_query_owner,
)
from services.gateway.upstreams import Upstreams
from shared.app import VERSION
from shared.fhir.api import base_url
from shared.fhir.http import read_body, read_limited, respond
from shared.fhir.outcomes import unavailable
from shared.fhir.validation import parse_json
from shared.request_limits import form_parameters
from shared.smart.urls import token_url

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _search_params(request: Request, body: bytes) -> list[tuple[str, str]]:
    params = list(request.query_params.multi_items())
    media = request.headers.get("content-type", "").split(";")[0].strip()
    if request.method == "POST" and media == "application/x-www-form-urlencoded":
        limit = request.app.state.settings.max_query_parameters
        params += form_parameters(body, already=len(params), max_parameters=limit)
    return params


async def metadata(request: Request) -> Response:
    """One CapabilityStatement listing every service's resources and the definitions."""
    state = request.app.state
    upstreams: Upstreams = state.upstreams

    async def fetch() -> dict[str, Any]:
        statements = await upstreams.capability_statements()
        merged = merge_capability_statements(statements, software_version=VERSION)
        return with_definitions(merged, state.definitions)

    statement = await state.capabilities.get(fetch)
    return respond(request, at_base(statement, base_url(request), token_url(request)))


async def relay(request: Request, path: str) -> Response:
    """Send the request to the service owning what `path` names; relay its answer."""
    table: RouteTable = request.app.state.routes
    upstreams: Upstreams = request.app.state.upstreams
    max_bytes: int = request.app.state.settings.max_request_bytes
    decision = route(table, request.method, path)
    if decision.kind is RouteKind.METADATA:
        return await metadata(request)
    if decision.kind in (RouteKind.BUNDLE, RouteKind.NEW_SUBSCRIPTION):
        body = await read_body(request, max_bytes)  # 406/415/413 as the services answer
        resource = parse_json(body)
        if decision.kind is RouteKind.BUNDLE:
            service = bundle_owner(table, resource, base_url(request))
        else:
            service = subscription_owner(table, resource)
        return await upstreams.forward(request, service, body)
    body = await read_limited(request, max_bytes)  # the service judges its media type
    if decision.kind is RouteKind.DEFINITION:
        resource_type, _, rest = path.partition("/")
        return answer(request, resource_type, rest, _search_params(request, body))
    if decision.kind is RouteKind.SUBSCRIPTION_QUERY:
        service = subscription_query_owner(table, _search_params(request, body))
    elif decision.kind is RouteKind.SUBSCRIPTION_INSTANCE:
        assert decision.resource_id is not None
        service = await upstreams.find_subscription(
            request, decision.resource_id, table.subscription_services
        )
    else:
        assert decision.service is not None
        service = decision.service
    return await upstreams.forward(request, service, body)


async def relay_token_request(request: Request) -> Response:
    """A token request, relayed to the service hosting the token endpoint."""
    body = await read_limited(request, request.app.state.settings.max_request_bytes)
    return await request.app.state.upstreams.forward(request, TOKEN_SERVICE, body)


def gateway_router(fhir_base_path: str) -> APIRouter:
    """The probes and the FHIR base, at `fhir_base_path`."""
    router = APIRouter()

    @router.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> Response:
        """Readiness: every service behind the front door is ready."""
        waiting = await request.app.state.upstreams.not_ready()
        if waiting:
            raise unavailable(f"Not ready: {', '.join(waiting)}")
        return Response(content=b'{"status":"ready"}', media_type="application/json")

    async def relay_base(request: Request) -> Response:
        return await relay(request, "")

    router.add_api_route("/auth/token", relay_token_request, methods=["POST"])
    router.add_api_route(fhir_base_path, relay_base, methods=_METHODS)
    router.add_api_route(f"{fhir_base_path}/{{path:path}}", relay, methods=_METHODS)
    return router
