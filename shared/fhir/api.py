"""The FHIR REST API of a service, generated per registered resource type.

Endpoints stay thin: each opens one database transaction (committed before the response
is sent, so a 201 is never answered for something not stored), asks `FhirService`, and
renders the answer. Routes are added per type so that the OpenAPI lists each one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from shared.auth import CurrentPrincipal, Principal
from shared.fhir import openapi, rendering
from shared.fhir.bundles import parse_bundle, run_batch, run_transaction
from shared.fhir.capability import capability_statement
from shared.fhir.http import (
    FhirResponse,
    link_url,
    preferences,
    read_body,
    read_limited,
    respond,
    version_headers,
)
from shared.fhir.outcomes import bad_request, information, method_not_allowed, not_found
from shared.fhir.registry import Registry, ResourceDefinition
from shared.fhir.search import date as date_search
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService, WriteResult, format_instant, now_utc
from shared.fhir.storage.repository import StoredResource
from shared.fhir.validation import parse_json
from shared.request_limits import form_parameters


def base_url(request: Request) -> str:
    settings = request.app.state.settings
    origin = settings.public_base_url or str(request.base_url).rstrip("/")
    return f"{origin}{settings.fhir_base_path}"


@asynccontextmanager
async def fhir_session(request: Request, principal: Principal) -> AsyncIterator[FhirService]:
    """One FhirService in one database transaction for this request."""
    settings = request.app.state.settings
    async with request.app.state.database.transaction() as session:
        yield FhirService(
            session=session,
            registry=request.app.state.registry,
            principal=principal,
            limits=SearchLimits(settings.search_default_count, settings.search_max_count),
            base_url=base_url(request),
            peers=getattr(request.app.state, "peers", None),
        )


def _written(request: Request, result: WriteResult) -> Response:
    stored = result.stored
    headers = version_headers(stored, base_url(request))
    status = 201 if result.created else 200
    prefer = preferences(request).return_
    if prefer == "minimal":
        return respond(request, None, status=status, headers=headers)
    if prefer == "OperationOutcome":
        verb = (
            "Created" if result.created else "Matched an existing" if result.resent else "Updated"
        )
        outcome = information(f"{verb} {stored.resource_type}/{stored.id}")
        return respond(request, outcome, status=status, headers=headers)
    return respond(request, (stored.content or "").encode(), status=status, headers=headers)


def _read(request: Request, stored: StoredResource) -> Response:
    headers = version_headers(stored, base_url(request))
    del headers["Location"]
    return respond(request, (stored.content or "").encode(), headers=headers)


async def _search_items(request: Request) -> list[tuple[str, str]]:
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";")[0].strip()
        if media != "application/x-www-form-urlencoded":
            raise bad_request("POST _search takes application/x-www-form-urlencoded parameters")
        settings = request.app.state.settings
        body = await read_limited(request, settings.max_request_bytes)
        items += form_parameters(
            body, already=len(items), max_parameters=settings.max_query_parameters
        )
    return items


def _is_natural(text: str) -> bool:
    """ASCII digits within a 64-bit integer (what the database can compare against)."""
    return text.isascii() and text.isdigit() and int(text) < 2**63


def _history_window(request: Request) -> tuple[datetime | None, int | None, int]:
    settings = request.app.state.settings
    since_text = request.query_params.get("_since")
    page = request.query_params.get("_page")
    count_text = request.query_params.get("_count", str(settings.search_default_count))
    try:
        since = date_search.parse_range(since_text)[0] if since_text else None
    except ValueError:
        raise bad_request("_since must be a FHIR instant", "_since") from None
    if not _is_natural(count_text) or (page is not None and not _is_natural(page)):
        raise bad_request("_count and _page must be non-negative integers")
    return since, int(page) if page else None, min(int(count_text), settings.search_max_count)


async def _history(
    request: Request, principal: Principal, resource_type: str, resource_id: str | None
) -> Response:
    since, before_seq, count = _history_window(request)
    async with fhir_session(request, principal) as fhir:
        fhir.registry.require(resource_type)
        principal.require(resource_type, "r")
        if resource_id is not None and not await fhir.repository.current(
            resource_type, resource_id
        ):
            raise not_found(f"{resource_type}/{resource_id} is not known")
        entries = [
            replace(entry, stored=fhir.presented(entry.stored))
            for entry in await fhir.repository.history(
                resource_type, resource_id, since=since, before_seq=before_seq, count=count
            )
        ]
        total = (
            None
            if before_seq
            else await fhir.repository.history_total(resource_type, resource_id, since=since)
        )
    root = base_url(request)
    path = resource_type + (f"/{resource_id}" if resource_id else "") + "/_history"
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_page"]
    next_url = None
    if len(entries) > count:
        entries = entries[:count]
        if entries:  # _count=0 asks for the total only
            next_url = link_url(root, path, [*params, ("_page", str(entries[-1].seq))])
    body = rendering.history(
        entries,
        base_url=root,
        self_url=link_url(root, path, list(request.query_params.multi_items())),
        next_url=next_url,
        total=total,
    )
    return respond(request, body)


def _type_routes(router: APIRouter, definition: ResourceDefinition) -> None:
    """Add every interaction on `definition`'s type to `router`."""
    resource_type = definition.type

    async def search(request: Request, principal: CurrentPrincipal) -> Response:
        items = await _search_items(request)
        async with fhir_session(request, principal) as fhir:
            result = await fhir.search(
                resource_type,
                items,
                lenient=preferences(request).lenient,
                include_max=request.app.state.settings.include_max,
            )
        body = rendering.searchset(result, base_url=base_url(request), resource_type=resource_type)
        return respond(request, body)

    async def create(request: Request, principal: CurrentPrincipal) -> Response:
        body = parse_json(await read_body(request, request.app.state.settings.max_request_bytes))
        condition = request.headers.get("if-none-exist")
        async with fhir_session(request, principal) as fhir:
            result = await fhir.create(resource_type, body, if_none_exist=condition)
        return _written(request, result)

    async def conditional_update(request: Request, principal: CurrentPrincipal) -> Response:
        body = parse_json(await read_body(request, request.app.state.settings.max_request_bytes))
        query = request.url.query
        async with fhir_session(request, principal) as fhir:
            result = await fhir.conditional_update(
                resource_type, query, body, if_match=request.headers.get("if-match")
            )
        return _written(request, result)

    async def conditional_delete(request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal) as fhir:
            await fhir.conditional_delete(resource_type, request.url.query)
        return Response(status_code=204)

    async def type_history(request: Request, principal: CurrentPrincipal) -> Response:
        return await _history(request, principal, resource_type, None)

    async def read(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal) as fhir:
            stored = await fhir.read(resource_type, id)
        return _read(request, stored)

    async def update(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        body = parse_json(await read_body(request, request.app.state.settings.max_request_bytes))
        async with fhir_session(request, principal) as fhir:
            result = await fhir.update(
                resource_type, id, body, if_match=request.headers.get("if-match")
            )
        return _written(request, result)

    async def delete(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal) as fhir:
            await fhir.delete(resource_type, id, if_match=request.headers.get("if-match"))
        return Response(status_code=204)

    async def instance_history(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        return await _history(request, principal, resource_type, id)

    async def vread(id: str, vid: str, request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal) as fhir:
            stored = await fhir.vread(resource_type, id, vid)
        return _read(request, stored)

    body = openapi.resource_body(resource_type)
    routes: list[
        tuple[str, Callable[..., Awaitable[Response]], str, str, dict[str, Any] | None]
    ] = [
        ("", search, "GET", "search-type", openapi.search_query(definition)),
        ("/_search", search, "POST", "search-type (form)", openapi.search_form(definition)),
        ("", create, "POST", "create", body),
        ("", conditional_update, "PUT", "conditional update", body),
        ("", conditional_delete, "DELETE", "conditional delete", None),
        ("/_history", type_history, "GET", "history-type", openapi.history_query()),
        ("/{id}", read, "GET", "read", None),
        ("/{id}", update, "PUT", "update", body),
        ("/{id}", delete, "DELETE", "delete", None),
        ("/{id}/_history", instance_history, "GET", "history-instance", openapi.history_query()),
        ("/{id}/_history/{vid}", vread, "GET", "vread", None),
    ]
    for suffix, endpoint, method, label, extra in routes:
        router.add_api_route(
            f"/{resource_type}{suffix}",
            endpoint,
            methods=[method],
            name=f"{resource_type}: {label}",
            operation_id=f"{resource_type}_{label.replace(' ', '_').replace('-', '_')}".replace(
                "(", ""
            ).replace(")", ""),
            tags=[resource_type],
            response_class=FhirResponse,
            responses=openapi.answers(),
            openapi_extra=extra,
        )


def fhir_router(registry: Registry) -> APIRouter:
    """All FHIR endpoints of a service: metadata, Bundles and each registered type."""
    router = APIRouter()
    started = format_instant(now_utc())

    @router.get("/metadata", response_class=FhirResponse, tags=["system"])
    async def metadata(request: Request) -> Response:
        """The CapabilityStatement (no authentication needed)."""
        version = request.app.version
        statement = capability_statement(
            registry, base_url=base_url(request), software_version=version, date=started
        )
        return respond(request, statement)

    @router.post(
        "",
        response_class=FhirResponse,
        tags=["system"],
        openapi_extra=openapi.bundle_body(),
        responses=openapi.answers(),
    )
    @router.post("/", response_class=FhirResponse, include_in_schema=False)
    async def bundle(request: Request, principal: CurrentPrincipal) -> Response:
        """A transaction (atomic) or batch Bundle."""
        body = parse_json(await read_body(request, request.app.state.settings.max_request_bytes))
        include = preferences(request).return_ != "minimal"
        async with fhir_session(request, principal) as fhir:
            bundle_type, entries = parse_bundle(body, fhir.base_url)
            runner = run_transaction if bundle_type == "transaction" else run_batch
            result = await runner(fhir, entries, include_resources=include)
        return respond(request, result)

    for definition in registry.definitions:
        _type_routes(router, definition)

    @router.api_route(
        "/{path:path}",
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
        include_in_schema=False,
    )
    async def unknown(path: str, request: Request) -> Response:
        resource_type = path.split("/", 1)[0]
        if registry.get(resource_type) is None:
            raise not_found(f"Resource type '{resource_type}' is not served here")
        if request.method == "GET":
            raise not_found(f"No such {resource_type} endpoint")
        raise method_not_allowed(f"{request.method} is not supported on this {resource_type} path")

    return router
