"""The audit log: one append-only database the services share (AUDIT_DATABASE_URL), where
each request's AuditEvents are written in one short transaction before it is answered.

AuditEvents are stored with the FHIR store's own tables and indexes (so that they are
searched and paged like any resource), but no outbox event is recorded: no relay reads
this database. Two moments write:

- `write_before_commit`, from the request's FHIR session: an interaction that succeeded is
  recorded before its transaction commits, so a change is never stored without its
  AuditEvent (an audit failure rolls it back);
- `write_at_response`, from the middleware as the answer starts: whatever was not written
  yet -- refusals (401, 403, 404, 4xx), failures, and what was noted outside a session.
"""

from __future__ import annotations

import logging

from fastapi import Request

from shared.audit.balp import RequestContext, audit_event
from shared.audit.interactions import asked
from shared.audit.resource import AUDIT_EVENT
from shared.audit.trail import Access, patients_in_query, patients_of, trail_of
from shared.db import Database
from shared.events.outbox import current_traceparent
from shared.fhir.service import now_utc
from shared.fhir.storage.repository import FhirRepository

log = logging.getLogger("teleradiology.audit")


class AuditLog:
    """Writes AuditEvents to the audit database (and serves it to AuditEvent searches)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.database = Database(url, pool_size=pool_size, outbox=False)

    async def append(self, accesses: list[Access], context: RequestContext, status: int) -> None:
        """Store one AuditEvent per access, all in one transaction."""
        recorded = now_utc()
        async with self.database.transaction() as session:
            repository = FhirRepository(session)
            for access in accesses:
                event = audit_event(
                    access, context, status=access.status or status, recorded=recorded
                )
                await repository.insert(AUDIT_EVENT, event, last_updated=recorded)

    async def dispose(self) -> None:
        await self.database.dispose()


def request_context(request: Request) -> RequestContext:
    """Who asked this request, from where, of which service."""
    settings = request.app.state.settings
    return RequestContext(
        principal=getattr(request.state, "principal", None),
        address=client_address(request),
        service=settings.service_name,
        fhir_base=settings.public_fhir_base,
        traceparent=current_traceparent(),
    )


def client_address(request: Request) -> str | None:
    """The client's address: as the nearest proxy (the gateway) saw it, else the peer's."""
    forwarded = request.headers.get("x-forwarded-for", "")
    nearest = forwarded.rsplit(",", 1)[-1].strip()
    if nearest:
        return nearest
    return request.client.host if request.client else None


async def write_before_commit(request: Request) -> None:
    """Write the interactions noted so far (they succeeded)."""
    trail = trail_of(request)
    if not trail.pending:
        return
    accesses, trail.pending = trail.pending, []
    await request.app.state.audit.append(accesses, request_context(request), 200)
    trail.written = True


async def write_at_response(request: Request, path: str, status: int) -> None:
    """Write what the request has not recorded yet, now that its answer is `status`: the
    noted interactions, or -- when none was noted, or the request failed after them --
    one event for the request as it was asked (`path`: relative to the FHIR base)."""
    trail = trail_of(request)
    accesses, trail.pending = trail.pending, []
    if not accesses and (not trail.written or status >= 400):
        accesses = [await _as_asked(request, path, status)]
    if accesses:
        await request.app.state.audit.append(accesses, request_context(request), status)
        trail.written = True


async def _as_asked(request: Request, path: str, status: int) -> Access:
    """The request as it was asked, naming every patient it is known to be about."""
    trail = trail_of(request)
    what = asked(request.method, path, trail.bundle_type)
    access = Access(what.interaction, what.resource_type, patients=set(trail.named_patients))
    if what.object_path:
        access.objects.append(what.object_path)
    if what.interaction == "search-type" and what.resource_type:
        items = request.query_params.multi_items()
        access.query = f"{what.resource_type}?{request.url.query}"
        access.patients |= patients_in_query(what.resource_type, items)
    if status >= 400 and what.resource_id and what.resource_type:
        access.patients |= await _patients_at(request, what.resource_type, what.resource_id)
    return access


async def _patients_at(request: Request, resource_type: str, resource_id: str) -> set[str]:
    """The patients of a resource a refused request asked for (a refusal still names whom
    it was about); nothing when this service does not keep the type, or cannot tell."""
    definition = request.app.state.registry.get(resource_type)
    if definition is None or definition.store != "service":
        return set()
    try:
        async with request.app.state.database.transaction() as session:
            stored = await FhirRepository(session).current(resource_type, resource_id)
    except Exception as exc:  # the refusal is recorded all the same, without its patient
        log.warning("patient lookup failed", extra={"error_type": type(exc).__name__})
        return set()
    return patients_of(stored.resource()) if stored is not None else set()
