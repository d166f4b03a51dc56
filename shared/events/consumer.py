"""Consuming another service's events: the platform's services subscribe to each other
exactly the way an EHR or a vendor does (topic-based Subscriptions, rest-hook,
full-resource payloads), and receive at `POST /events/<consumption name>`.

Each received notification is checked (its HMAC signature with this service's
`EVENTS_SIGNING_SECRET`, its topic), then each event is handled in its own database
transaction together with an inbox row keyed by (subscription, event number): a
redelivered event finds its row and changes nothing, and a handler that fails rolls its
event back and answers 503 or 500, so the publisher retries from that event. An event whose
number jumps past the last one handled for its subscription first has the events in between
fetched from the publisher and handled, in order (shared.events.gaps); a heartbeat whose
event count runs past the last one handled does the same for a lost last event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.events.delivery import SIGNATURE_HEADER, verify_signature
from shared.events.gaps import last_handled, missed_events
from shared.events.received import MalformedNotification, ReceivedEvent, read_notification
from shared.events.tables import inbox_event
from shared.fhir.http import read_body
from shared.fhir.outcomes import FhirError, bad_request, not_found, unauthorized, unavailable
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService, now_utc
from shared.peers import Peers, PeerUnavailable
from shared.ratelimit import enforce_address_limit
from shared.settings import ServiceSettings

log = logging.getLogger("teleradiology.consumer")
_TRACER = trace.get_tracer("teleradiology.consumer")
_PROPAGATOR = TraceContextTextMapPropagator()
EVENTS_PATH = "/events"


@dataclass(frozen=True, slots=True)
class ConsumerContext:
    """What a handler works with: its event's transaction, FHIR semantics on this service's
    own resources (as the service itself), and the other services."""

    session: AsyncSession
    fhir: FhirService
    peers: Peers
    settings: ServiceSettings
    gathered: dict[str, Any] = field(default_factory=dict)  # from the consumption's `gather`


Handler = Callable[[ReceivedEvent, ConsumerContext], Awaitable[None]]
# Resources the topic may have fired for before the subscription existed (or while it was
# off): handled once the subscription is in place, so that nothing committed earlier is
# left out. Handlers are idempotent, so overlap with delivered events is harmless.
Backlog = Callable[[Peers], AsyncIterator[dict[str, Any]]]
# What a handler needs from other services, fetched before its transaction opens: no
# database lock is held across a call to another service (on SQLite every transaction
# holds the write lock, and two services each waiting on the other would stall).
Gather = Callable[[ReceivedEvent, Peers], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Consumption:
    """One subscription a service keeps at another service, and what it does per event."""

    name: str  # its endpoint is <INTERNAL_URL>/events/<name>
    publisher: str  # the service offering the topic
    topic: str  # the topic's canonical URL
    handler: Handler
    filters: tuple[str, ...] = ()
    description: str = ""
    backlog: Backlog | None = None
    gather: Gather | None = None


def service_principal(settings: ServiceSettings) -> Principal:
    """The principal a service acts as on its own resources when it handles an event."""
    return Principal(
        client_id=f"{settings.service_name}-service", scopes=frozenset({"system/*.cruds"})
    )


def consumer_router(consumptions: tuple[Consumption, ...]) -> APIRouter:
    """`POST /events/{name}`: the rest-hook endpoint of each consumption."""
    by_name = {c.name: c for c in consumptions}
    router = APIRouter(prefix=EVENTS_PATH, tags=["events"])

    @router.post("/{name}", summary="Receive a subscription notification (signed)")
    async def receive(name: str, request: Request) -> Response:
        consumption = by_name.get(name)
        if consumption is None:
            raise not_found("No such event endpoint")
        settings: ServiceSettings = request.app.state.settings
        body = await read_body(request, settings.max_request_bytes)
        secret = settings.events_signing_secret.get_secret_value().encode()
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not verify_signature(secret, header, body, now=time.time()):
            enforce_address_limit(request)  # guessing signatures is bounded like logins
            raise unauthorized(f"The {SIGNATURE_HEADER} header does not sign this body")
        try:
            notification = read_notification(orjson.loads(body))
        except (orjson.JSONDecodeError, MalformedNotification) as error:
            raise bad_request(f"Not a subscription notification: {error}") from error
        if notification.topic != consumption.topic:
            raise bad_request("The notification's topic is not the one this endpoint takes")
        if notification.kind == "event-notification":
            for event in notification.events:
                await _fill_gap(request, consumption, event.subscription, event.number)
                await _consume(request, consumption, event)
        elif notification.kind == "heartbeat" and notification.events_since_start:
            # A lost last event shows at the next heartbeat: the count runs past it.
            count = notification.events_since_start
            await _fill_gap(request, consumption, notification.subscription, count + 1)
        return Response(status_code=200)

    return router


async def _fill_gap(
    request: Request, consumption: Consumption, subscription: str, number: int
) -> None:
    """Handle the events of `subscription` before event `number` that never arrived,
    fetched from the publisher."""
    state = request.app.state
    async with state.database.transaction() as session:
        last = await last_handled(session, subscription)
    if last is None or number <= last + 1:
        return
    try:
        missed = await missed_events(
            state.peers, consumption.publisher, subscription, last + 1, number - 1
        )
    except PeerUnavailable as error:
        raise _deferred(consumption, number, error) from error
    for earlier in missed:
        await _consume(request, consumption, earlier)


def _deferred(consumption: Consumption, number: int, error: PeerUnavailable) -> FhirError:
    """The 503 asking the publisher to send event `number` again later (a peer is down)."""
    log.warning(
        "event handling deferred",
        extra={"consumer": consumption.name, "event_number": number, "reason": str(error)},
    )
    failure = unavailable("A service this event needs is not available; retry later")
    failure.headers = {"Retry-After": "5"}
    return failure


async def _consume(request: Request, consumption: Consumption, event: ReceivedEvent) -> None:
    """Handle one event once: in one transaction with its inbox row, in its change's trace."""
    state = request.app.state
    parent = _PROPAGATOR.extract({"traceparent": event.traceparent}) if event.traceparent else None
    token = otel_context.attach(parent) if parent is not None else None
    try:
        with _TRACER.start_as_current_span(f"consume {consumption.name}") as span:
            span.set_attribute("teleradiology.event_number", event.number)
            gathered = await gather_for(consumption, event, state.peers)
            async with state.database.transaction() as session:
                if not await _first_delivery(session, consumption.name, event):
                    span.set_attribute("teleradiology.duplicate", True)
                    return
                await consumption.handler(event, service_context(state, session, gathered))
    except PeerUnavailable as error:
        raise _deferred(consumption, event.number, error) from error
    finally:
        if token is not None:
            otel_context.detach(token)


async def catch_up(state: Any, consumption: Consumption) -> int:
    """Handle the consumption's backlog, each resource in its own transaction; how many."""
    if consumption.backlog is None:
        return 0
    handled = 0
    with _TRACER.start_as_current_span(f"catch up {consumption.name}"):
        async for resource in consumption.backlog(state.peers):
            event = ReceivedEvent(
                subscription="backlog",
                topic=consumption.topic,
                number=0,
                focus=None,
                resource=resource,
                traceparent=None,
            )
            try:
                gathered = await gather_for(consumption, event, state.peers)
                async with state.database.transaction() as session:
                    await consumption.handler(event, service_context(state, session, gathered))
            except PeerUnavailable:
                raise  # the whole backlog is tried again later
            except Exception as error:  # one bad resource must not hold up the others
                log.error(
                    "backlog resource failed",
                    extra={"consumer": consumption.name, "error_type": type(error).__name__},
                )
                continue
            handled += 1
    log.info("backlog handled", extra={"consumer": consumption.name, "resources": handled})
    return handled


async def gather_for(
    consumption: Consumption, event: ReceivedEvent, peers: Peers
) -> dict[str, Any]:
    """What the consumption's handler needs from other services for `event`."""
    return await consumption.gather(event, peers) if consumption.gather else {}


def service_context(
    state: Any, session: AsyncSession, gathered: dict[str, Any] | None = None
) -> ConsumerContext:
    """FHIR on this service's own resources as the service itself, in `session`."""
    settings: ServiceSettings = state.settings
    fhir = FhirService(
        session=session,
        registry=state.registry,
        principal=service_principal(settings),
        limits=SearchLimits(settings.search_default_count, settings.search_max_count),
        base_url=settings.public_fhir_base,
        peers=state.peers,
        state=state,
    )
    return ConsumerContext(
        session=session, fhir=fhir, peers=state.peers, settings=settings, gathered=gathered or {}
    )


async def _first_delivery(session: AsyncSession, consumer: str, event: ReceivedEvent) -> bool:
    """Record the event in the inbox; False when it was recorded (handled) before."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(inbox_event)
        .values(
            subscription=event.subscription[:255],
            event_number=event.number,
            consumer=consumer,
            received_at=now_utc(),
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
