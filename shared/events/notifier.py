"""The notifier: a background task in each service that delivers numbered subscription
events over rest-hook, in event-number order, with no gap.

Each pass takes due subscriptions one at a time (`SKIP LOCKED`: any number of replicas share
the work) and leases the one it takes for the length of a delivery (`leased_until`, past
the POST's timeout: no other delivery to that subscription starts meanwhile, here or in
another replica, so its events go once and in order), so that no database transaction stays open while a
subscriber answers -- which a subscriber calling back into this service would otherwise
wait on (SQLite serialises every transaction). Then it performs the handshake of a requested
subscription; or sends its undelivered events (up to max-count per notification); or a
heartbeat when one is due, and records the outcome in a second transaction. A failed delivery is retried with
exponential backoff and jitter; after `retry_period` of failures the subscription shows
status `error` with the reason (`$status`), and is still probed at the longest interval,
so delivery resumes -- from the first undelivered event -- once the endpoint recovers.
After an event notification is accepted and recorded, the service's delivery-receipt hook
(if any) runs in a third transaction (shared/events/receipts.py).

A subscription made by a registered client stops when that client's registration is
withdrawn from AUTH_CLIENTS_FILE: before anything is sent to it, it is turned `off`, with
the reason in its `error` (and `$status`), and nothing more is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events.delivery import (
    DeliveryResult,
    EndpointPolicy,
    give_up,
    next_retry_delay,
    post_notification,
)
from shared.events.notifications import (
    NumberedEvent,
    notification_bundle,
    numbered_event,
    status_parameters,
)
from shared.events.receipts import ReceiptContext, deliver_receipt
from shared.events.subscriptions import SubscriptionRequest, owner_client, read_subscription
from shared.events.tables import subscription_event, subscription_state
from shared.fhir.registry import Registry
from shared.fhir.service import now_utc, with_server_meta
from shared.fhir.storage.repository import FhirRepository, StoredResource
from shared.smart.clients import ClientRegistry

log = logging.getLogger("teleradiology.notifier")
IDLE = timedelta(minutes=5)  # when nothing is pending and no heartbeat is asked for
LEASE_MARGIN_SECONDS = 5


@dataclass(frozen=True, slots=True)
class _Taken:
    send: _Send | None  # None: due, but nothing to send now


@dataclass(frozen=True, slots=True)
class _Send:
    """One notification to POST: to whom, of which kind, with which events."""

    state: Row[Any]  # the subscription's delivery state when it was leased
    subscription: SubscriptionRequest
    kind: str  # handshake | heartbeat | event-notification
    events: list[NumberedEvent]


class Notifier:
    """Delivers one service's subscription notifications."""

    def __init__(
        self,
        *,
        database: Database,
        registry: Registry,
        client: httpx.AsyncClient,
        policy: EndpointPolicy,
        base_url: str,
        retry_period: timedelta,
        clients: ClientRegistry | None = None,
        rng: random.Random | None = None,
        receipt_context: ReceiptContext | None = None,
    ) -> None:
        self.database = database
        self.registry = registry
        self.client = client
        self.policy = policy
        self.base_url = base_url
        self.retry_period = retry_period
        self.clients = clients  # the registered clients, when this service is told them
        self.rng = rng or random.Random()
        # The context of the registry's delivery_receipt hook (None: no receipts here).
        self.receipt_context = receipt_context
        self.wake = asyncio.Event()

    async def run_once(self, limit: int = 20) -> int:
        """Serve up to `limit` due subscriptions, one after the other; how many were due."""
        served = 0
        for _ in range(limit):
            taken = await self._take()
            if taken is None:
                break
            served += 1
            if taken.send is not None:
                await self._deliver(taken.send)
        return served

    async def run(
        self, stop: asyncio.Event, *, idle_seconds: float = 0.5, concurrency: int = 16
    ) -> None:
        """Serve due subscriptions until `stop`, up to `concurrency` deliveries at a time: a
        slow subscriber holds up only its own subscription (each is leased to one delivery,
        so its events still go in order)."""
        inflight: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            started = 0
            try:
                while len(inflight) < concurrency and (taken := await self._take()) is not None:
                    started += 1
                    if taken.send is not None:
                        task = asyncio.create_task(self._deliver(taken.send))
                        inflight.add(task)
                        task.add_done_callback(self._delivered(inflight))
            except Exception as exc:  # keep notifying; the state rows are unchanged
                log.error("notifier pass failed", extra={"error_type": type(exc).__name__})
            if started and len(inflight) < concurrency:
                continue
            self.wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=idle_seconds, return_when="FIRST_COMPLETED"
            )
            for waiter in pending:
                waiter.cancel()
        await asyncio.gather(*inflight, return_exceptions=True)

    def _delivered(self, inflight: set[asyncio.Task[None]]) -> Any:
        def done(task: asyncio.Task[None]) -> None:
            inflight.discard(task)
            if not task.cancelled() and task.exception() is not None:
                error = task.exception()
                log.error("notification pass failed", extra={"error_type": type(error).__name__})
            self.wake.set()  # a slot is free, and the subscription may have more to send

        return done

    async def _take(self) -> _Taken | None:
        """The next due subscription, leased with what to send it; None when none is due."""
        async with self.database.transaction() as session:
            state = await self._take_due(session)
            if state is None:
                return None
            return _Taken(await self._plan(session, state))

    async def _deliver(self, send: _Send) -> None:
        result = await self._post(send)
        delivered_at = now_utc()
        async with self.database.transaction() as session:
            await self._record(session, send, result)
        if result.delivered and send.events:
            await self._receipt(send, delivered_at)

    async def _receipt(self, send: _Send, delivered_at: datetime) -> None:
        """Tell the service's delivery_receipt hook (if any) what the subscriber accepted,
        once the delivery's bookkeeping is committed (shared/events/receipts.py)."""
        hook = self.registry.delivery_receipt
        if hook is None or self.receipt_context is None:
            return
        await deliver_receipt(
            self.database,
            hook,
            self.receipt_context,
            subscription=send.subscription.id,
            topic=send.subscription.topic,
            delivered_at=delivered_at,
            events=tuple(send.events),
        )

    async def _take_due(self, session: AsyncSession) -> Row[Any] | None:
        s = subscription_state.c
        now = now_utc()
        query = (
            select(subscription_state)
            .where(
                s.status.in_(("requested", "active", "error")),
                s.next_attempt_at <= now,
                or_(s.leased_until.is_(None), s.leased_until <= now),
            )
            .order_by(s.next_attempt_at)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return (await session.execute(query)).first()

    async def _plan(self, session: AsyncSession, state: Row[Any]) -> _Send | None:
        """What to send to a due subscription, leased to this notifier; None when nothing
        is to be sent now (its state then says when to look again)."""
        repository = FhirRepository(session)
        stored = await repository.current("Subscription", state.subscription_id)
        if stored is None or stored.deleted:
            await self._update(session, state, status="off")
            return None
        withdrawn = await self._withdrawn_owner(repository, stored)
        if withdrawn is not None:
            await self._turn_off(session, repository, stored, state, withdrawn)
            return None
        subscription = read_subscription(stored.resource())
        now = now_utc()
        send: _Send | None = None
        if state.status == "requested":
            send = _Send(state, subscription, "handshake", [])
        elif events := await self._pending(session, repository, state, subscription):
            send = _Send(state, subscription, "event-notification", events)
        elif subscription.heartbeat_seconds and state.status == "active":
            period = timedelta(seconds=subscription.heartbeat_seconds)
            last = state.last_sent_at or now - period
            if now - last < period:
                await self._update(session, state, next_attempt_at=last + period)
                return None
            send = _Send(state, subscription, "heartbeat", [])
        if send is None:
            await self._update(session, state, next_attempt_at=now + IDLE)
            return None
        # The lease: no notifier (here or in another replica) takes this subscription
        # again before the POST has had its whole timeout, so no transaction (and no row
        # lock) is held open while waiting for the subscriber. The relay numbering a new
        # event moves next_attempt_at, not the lease.
        lease = timedelta(seconds=subscription.timeout_seconds + LEASE_MARGIN_SECONDS)
        await self._update(session, state, leased_until=now + lease)
        return send

    async def _withdrawn_owner(
        self, repository: FhirRepository, stored: StoredResource
    ) -> str | None:
        """Why `stored` must stop when the registered client that made it is registered no
        more; None when it may go on (or no registry is configured here)."""
        if self.clients is None:
            return None
        client = owner_client(await repository.labels([stored.pk]))
        if client is None or client in self.clients:
            return None
        return f"The registration of client {client}, which made this subscription, was withdrawn"

    async def _turn_off(
        self,
        session: AsyncSession,
        repository: FhirRepository,
        stored: StoredResource,
        state: Row[Any],
        reason: str,
    ) -> None:
        log.warning(
            "subscription turned off: its client was withdrawn",
            extra={"subscription": state.subscription_id},
        )
        await self._update(session, state, status="off", error=reason, leased_until=None)
        await self._set_resource_status(repository, stored, "off", reason)

    async def _record(self, session: AsyncSession, send: _Send, result: DeliveryResult) -> None:
        """Record the outcome of `send`, unless the subscription changed meanwhile (turned
        off, re-requested, or deleted: its new state stands)."""
        s = subscription_state.c
        query = select(subscription_state).where(s.subscription_id == send.state.subscription_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        state = (await session.execute(query)).first()
        if state is None:
            return
        await self._update(session, state, leased_until=None)
        if state.status != send.state.status:
            return
        repository = FhirRepository(session)
        stored = await repository.current("Subscription", state.subscription_id)
        if stored is None or stored.deleted:
            return
        if not result.delivered:
            await self._failed(session, repository, stored, state, result)
        elif send.kind == "heartbeat":
            now = now_utc()
            period = timedelta(seconds=send.subscription.heartbeat_seconds or 0)
            await self._update(session, state, last_sent_at=now, next_attempt_at=now + period)
        else:
            through = send.events[-1].number if send.events else None
            if through is not None and through <= state.delivered_through:
                through = None  # another notifier got further after this lease ran out
            await self._succeeded(session, repository, stored, state, through)

    async def _pending(
        self,
        session: AsyncSession,
        repository: FhirRepository,
        state: Row[Any],
        subscription: SubscriptionRequest,
    ) -> list[NumberedEvent]:
        e = subscription_event.c
        rows = await session.execute(
            select(subscription_event)
            .where(
                e.subscription_id == state.subscription_id,
                e.event_number > state.delivered_through,
            )
            .order_by(e.event_number)
            .limit(subscription.max_count)
        )
        events = []
        for row in rows:
            version = await repository.version(row.resource_type, row.resource_id, row.version_id)
            events.append(numbered_event(row, version))
        return events

    async def _post(self, send: _Send) -> DeliveryResult:
        subscription, state, events = send.subscription, send.state, send.events
        status = status_parameters(
            subscription=f"{self.base_url}/Subscription/{subscription.id}",
            topic=subscription.topic,
            status="active" if state.status == "error" else state.status,
            kind=send.kind,
            events_since_start=state.events_since_start,
            events=events,
            content=subscription.content,
            base_url=self.base_url,
        )
        body = notification_bundle(
            status, events, content=subscription.content, base_url=self.base_url
        )
        headers = dict(h.split(":", 1) for h in subscription.headers if ":" in h)
        return await post_notification(
            self.client,
            url=subscription.endpoint,
            body=body,
            secret=subscription.secret.encode(),
            headers={k.strip(): v.strip() for k, v in headers.items()},
            policy=self.policy,
            timeout=float(subscription.timeout_seconds),
            traceparent=events[0].traceparent if events else None,
        )

    async def _succeeded(
        self,
        session: AsyncSession,
        repository: FhirRepository,
        stored: StoredResource,
        state: Row[Any],
        delivered_through: int | None,
    ) -> None:
        now = now_utc()
        changes: dict[str, Any] = {
            "status": "active",
            "attempts": 0,
            "failing_since": None,
            "error": None,
            "last_sent_at": now,
            "next_attempt_at": now,  # look again at once: more may be pending
        }
        if delivered_through is not None:
            changes["delivered_through"] = delivered_through
        await self._update(session, state, **changes)
        if state.status != "active":
            await self._set_resource_status(repository, stored, "active")

    async def _failed(
        self,
        session: AsyncSession,
        repository: FhirRepository,
        stored: StoredResource,
        state: Row[Any],
        result: DeliveryResult,
    ) -> None:
        now = now_utc()
        attempts = state.attempts + 1
        failing_since = state.failing_since or now
        delay = next_retry_delay(attempts, rng=self.rng)
        changes: dict[str, Any] = {
            "attempts": attempts,
            "failing_since": failing_since,
            "next_attempt_at": now + timedelta(seconds=delay),
            "error": result.reason,
        }
        log.warning(
            "notification failed",
            extra={
                "subscription": state.subscription_id,
                "reason": result.reason,
                "attempts": attempts,
            },
        )
        if state.status != "error" and give_up(failing_since, now, self.retry_period):
            changes["status"] = "error"
            await self._set_resource_status(repository, stored, "error", result.reason)
        await self._update(session, state, **changes)

    async def _update(self, session: AsyncSession, state: Row[Any], **changes: Any) -> None:
        s = subscription_state.c
        await session.execute(
            update(subscription_state)
            .where(s.subscription_id == state.subscription_id)
            .values(**changes)
        )

    async def _set_resource_status(
        self,
        repository: FhirRepository,
        stored: StoredResource,
        status: str,
        error: str | None = None,
    ) -> None:
        """Show the server-managed status on the Subscription resource (a new version)."""
        resource = stored.resource()
        resource["status"] = status
        if error:
            resource["error"] = error
        else:
            resource.pop("error", None)
        moment = now_utc()
        await repository.replace(
            self.registry.require("Subscription"),
            stored,
            with_server_meta(resource, stored.id, stored.version_id + 1, moment),
            last_updated=moment,
            method="PUT",
        )
