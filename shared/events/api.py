"""`Subscription/{id}/$status` and `Subscription/{id}/$events` (Subscriptions R5 Backport:
http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status
and .../backport-subscription-events)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal
from shared.events.notifications import notification_bundle, numbered_event, status_parameters
from shared.events.subscriptions import CONTENTS, read_subscription
from shared.events.tables import subscription_event, subscription_state
from shared.fhir.api import base_url, fhir_session
from shared.fhir.http import FhirResponse, respond
from shared.fhir.outcomes import bad_request
from shared.fhir.service import FhirService

MAX_EVENTS = 500


def _number(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) >= 2**63:
        raise bad_request(f"{name} must be an event number", name)
    return int(text)


async def _state(fhir: FhirService, subscription_id: str) -> tuple[dict[str, Any], Any]:
    stored = await fhir.read("Subscription", subscription_id)  # 404 / 410 / scopes
    s = subscription_state.c
    state = (
        await fhir.repository.session.execute(
            select(subscription_state).where(s.subscription_id == subscription_id)
        )
    ).first()
    return stored.resource(), state


def subscription_operations() -> APIRouter:
    router = APIRouter(tags=["Subscription"])

    @router.get("/Subscription/{id}/$status", response_class=FhirResponse)
    async def subscription_status(
        id: str, request: Request, principal: CurrentPrincipal
    ) -> Response:
        """The subscription's status, event count and last error."""
        root = base_url(request)
        async with fhir_session(request, principal) as fhir:
            resource, state = await _state(fhir, id)
            note(request, accessed("operation", "Subscription", object_path=f"Subscription/{id}"))
        subscription = read_subscription(resource)
        status = status_parameters(
            subscription=f"{root}/Subscription/{id}",
            topic=subscription.topic,
            status=state.status if state else subscription.status,
            kind="query-status",
            events_since_start=state.events_since_start if state else 0,
            events=[],
            content="empty",
            base_url=root,
            error=state.error if state and state.status in ("error", "off") else None,
        )
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 1,
            "entry": [{"resource": status, "search": {"mode": "match"}}],
        }
        return respond(request, bundle)

    @router.get("/Subscription/{id}/$events", response_class=FhirResponse)
    async def subscription_events(
        id: str, request: Request, principal: CurrentPrincipal
    ) -> Response:
        """Replay a range of the subscription's events (eventsSinceNumber..eventsUntilNumber)."""
        since = _number(request, "eventsSinceNumber") or 1
        until = _number(request, "eventsUntilNumber")
        content = request.query_params.get("content")
        if content is not None and content not in CONTENTS:
            raise bad_request(f"content must be one of {', '.join(CONTENTS)}", "content")
        root = base_url(request)
        async with fhir_session(request, principal) as fhir:
            resource, state = await _state(fhir, id)
            subscription = read_subscription(resource)
            e = subscription_event.c
            query = (
                select(subscription_event)
                .where(e.subscription_id == id, e.event_number >= since)
                .order_by(e.event_number)
                .limit(MAX_EVENTS)
            )
            if until is not None:
                query = query.where(e.event_number <= until)
            events, versions = [], []
            for row in await fhir.repository.session.execute(query):
                version = await fhir.repository.version(
                    row.resource_type, row.resource_id, row.version_id
                )
                events.append(numbered_event(row, version))
                versions.append(version)
            # The replayed versions are data read through the subscription: each is named.
            replay = accessed("operation", "Subscription", versions)
            replay.objects.insert(0, f"Subscription/{id}")
            note(request, replay)
        chosen = content or subscription.content
        status = status_parameters(
            subscription=f"{root}/Subscription/{id}",
            topic=subscription.topic,
            status=state.status if state else subscription.status,
            kind="query-event",
            events_since_start=state.events_since_start if state else 0,
            events=events,
            content=chosen,
            base_url=root,
        )
        body = notification_bundle(status, events, content=chosen, base_url=root)
        return respond(request, body)

    return router
