"""The FHIR REST API of a service, generated per registered resource type.

Endpoints stay thin: each opens one database transaction (committed before the response
is sent, so a 201 is never answered for something not stored), asks `FhirService`, and
renders the answer. Routes are added per type so that the OpenAPI lists each one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from shared.audit.log import write_before_commit
from shared.audit.trail import (
    Access,
    accessed,
    name_patients,
    name_query_patients,
    note,
    searched,
    trail_of,
)
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
from shared.fhir.outcomes import (
    bad_request,
    information,
    method_not_allowed,
    not_found,
    unavailable,
)
from shared.fhir.registry import Registry, ResourceDefinition, Store
from shared.fhir.search import date as date_search
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService, WriteResult, format_instant, now_utc
from shared.fhir.storage.records import HistoryEntry
from shared.fhir.storage.repository import StoredResource
from shared.fhir.validation import parse_json
from shared.request_limits import form_parameters
from shared.smart.urls import public_origin, token_url

log = logging.getLogger("teleradiology.audit")


def base_url(request: Request) -> str:
    """The FHIR base as this request names the platform."""
    return f"{public_origin(request)}{request.app.state.settings.fhir_base_path}"


@asynccontextmanager
async def fhir_session(
    request: Request, principal: Principal, *, store: Store = "service"
) -> AsyncIterator[FhirService]:
    """One FhirService in one database transaction for this request (on the audit log for
    AuditEvents). What the request noted for audit is written before the service's own
    transaction commits: no change is stored without its AuditEvent."""
    settings = request.app.state.settings
    database = (
        request.app.state.database if store == "service" else request.app.state.audit.database
    )
    async with database.transaction() as session:
        yield FhirService(
            session=session,
            registry=request.app.state.registry,
            principal=principal,
            limits=SearchLimits(settings.search_default_count, settings.search_max_count),
            base_url=base_url(request),
            peers=getattr(request.app.state, "peers", None),
            state=request.app.state,
        )
        if store == "service":  # the audit log's own reads are recorded at the response
            await _audit_before_commit(request)


async def _audit_before_commit(request: Request) -> None:
    try:
        await write_before_commit(request)
    except Exception as exc:  # fail closed: roll the request back
        log.error("audit write failed", extra={"error_type": type(exc).__name__})
        raise unavailable("The audit log is not available: nothing was done; retry later") from exc


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
        note(request, _history_access(resource_type, resource_id, entries[:count]))
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


def _history_access(
    resource_type: str, resource_id: str | None, entries: list[HistoryEntry]
) -> Access:
    versions = [entry.stored for entry in entries]
    if resource_id is None:
        return accessed("history-type", resource_type, versions)
    return accessed(
        "history-instance", resource_type, versions, object_path=f"{resource_type}/{resource_id}"
    )


def _written_access(result: WriteResult) -> Access:
    interaction = "create" if result.created or result.resent else "update"
    return accessed(interaction, result.stored.resource_type, [result.stored])


def _type_routes(router: APIRouter, definition: ResourceDefinition) -> None:
    """Add every interaction served on `definition`'s type to `router`."""
    resource_type, store = definition.type, definition.store

    async def search(request: Request, principal: CurrentPrincipal) -> Response:
        items = await _search_items(request)
        # The query as sent (a POST _search's form after the URL's), for the audit trail.
        sent = "&".join(
            filter(
                None,
                [request.url.query, urlencode(items[len(request.query_params.multi_items()) :])],
            )
        )
        if definition.default_sort and not any(key == "_sort" for key, _ in items):
            items.append(("_sort", definition.default_sort))
        name_query_patients(request, resource_type, items)
        async with fhir_session(request, principal, store=store) as fhir:
            result = await fhir.search(
                resource_type,
                items,
                lenient=preferences(request).lenient,
                include_max=request.app.state.settings.include_max,
            )
            note(request, searched(resource_type, result, items, sent))
        body = rendering.searchset(result, base_url=base_url(request), resource_type=resource_type)
        return respond(request, body)

    async def create(request: Request, principal: CurrentPrincipal) -> Response:
        body = parse_json(await read_body(request, request.app.state.settings.max_request_bytes))
        name_patients(request, [body])
        condition = request.headers.get("if-none-exist")
        async with fhir_session(request, principal, store=store) as fhir:
            result = await fhir.create(resource_type, body, if_none_exist=condition)
            note(request, _written_access(result))
        return _written(request, result)

    async def conditional_update(request: Request, principal: CurrentPrincipal) -> Response:
        body = parse_json(await read_body(request, request.app.state.settings.max_request_bytes))
        name_patients(request, [body])
        query = request.url.query
        async with fhir_session(request, principal, store=store) as fhir:
            result = await fhir.conditional_update(
                resource_type, query, body, if_match=request.headers.get("if-match")
            )
            note(request, _written_access(result))
        return _written(request, result)

    async def conditional_delete(request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal, store=store) as fhir:
            deleted = await fhir.conditional_delete(resource_type, request.url.query)
            note(request, accessed("delete", resource_type, [deleted]))
        return Response(status_code=204)

    async def type_history(request: Request, principal: CurrentPrincipal) -> Response:
        return await _history(request, principal, resource_type, None)

    async def read(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal, store=store) as fhir:
            stored = await fhir.read(resource_type, id)
            note(request, accessed("read", resource_type, [stored]))
        return _read(request, stored)

    async def update(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        body = parse_json(await read_body(request, request.app.state.settings.max_request_bytes))
        name_patients(request, [body])
        async with fhir_session(request, principal, store=store) as fhir:
            result = await fhir.update(
                resource_type, id, body, if_match=request.headers.get("if-match")
            )
            note(request, _written_access(result))
        return _written(request, result)

    async def delete(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal, store=store) as fhir:
            deleted = await fhir.delete(resource_type, id, if_match=request.headers.get("if-match"))
            object_path = f"{resource_type}/{id}"
            note(request, accessed("delete", resource_type, [deleted], object_path=object_path))
        return Response(status_code=204)

    async def instance_history(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        return await _history(request, principal, resource_type, id)

    async def vread(id: str, vid: str, request: Request, principal: CurrentPrincipal) -> Response:
        async with fhir_session(request, principal, store=store) as fhir:
            stored = await fhir.vread(resource_type, id, vid)
            note(request, accessed("vread", resource_type, [stored]))
        return _read(request, stored)

    body = openapi.resource_body(resource_type)
    routes: list[
        tuple[str, Callable[..., Awaitable[Response]], str, str, str, dict[str, Any] | None]
    ] = [
        ("", search, "GET", "search-type", "search-type", openapi.search_query(definition)),
        (
            "/_search",
            search,
            "POST",
            "search-type (form)",
            "search-type",
            openapi.search_form(definition),
        ),
        ("", create, "POST", "create", "create", body),
        ("", conditional_update, "PUT", "conditional update", "update", body),
        ("", conditional_delete, "DELETE", "conditional delete", "delete", None),
        ("/_history", type_history, "GET", "history-type", "history-type", openapi.history_query()),
        ("/{id}", read, "GET", "read", "read", None),
        ("/{id}", update, "PUT", "update", "update", body),
        ("/{id}", delete, "DELETE", "delete", "delete", None),
        (
            "/{id}/_history",
            instance_history,
            "GET",
            "history-instance",
            "history-instance",
            openapi.history_query(),
        ),
        ("/{id}/_history/{vid}", vread, "GET", "vread", "vread", None),
    ]
    for suffix, endpoint, method, label, interaction, extra in routes:
        if not definition.serves(interaction):
            continue  # answered by the catch-all: 405 (or 404 for a GET)
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
            registry,
            base_url=base_url(request),
            token_url=token_url(request),
            software_version=version,
            date=started,
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
            trail_of(request).bundle_type = bundle_type
            name_patients(request, [entry.resource for entry in entries])
            runner = run_transaction if bundle_type == "transaction" else run_batch
            result = await runner(fhir, entries, include_resources=include)
            note(request, *(entry.access for entry in entries if entry.access is not None))
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
