"""The notifier: a background task in each service that delivers numbered subscription
events over rest-hook, in event-number order, with no gap.

Each pass takes due subscriptions one at a time under a row lock (`SKIP LOCKED`: any number
of replicas share the work, never two on one subscription), then: performs the handshake of
a requested subscription; or sends its undelivered events (up to max-count per
notification); or a heartbeat when one is due. A failed delivery is retried with
exponential backoff and jitter; after `retry_period` of failures the subscription shows
status `error` with the reason (`$status`), and is still probed at the longest interval,
so delivery resumes -- from the first undelivered event -- once the endpoint recovers.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Row, select, update
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
from shared.events.subscriptions import SubscriptionRequest, read_subscription
from shared.events.tables import subscription_event, subscription_state
from shared.fhir.registry import Registry
from shared.fhir.service import now_utc, with_server_meta
from shared.fhir.storage.repository import FhirRepository, StoredResource

log = logging.getLogger("teleradiology.notifier")
IDLE = timedelta(minutes=5)  # when nothing is pending and no heartbeat is asked for


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
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.registry = registry
        self.client = client
        self.policy = policy
        self.base_url = base_url
        self.retry_period = retry_period
        self.rng = rng or random.Random()
        self.wake = asyncio.Event()

    async def run_once(self, limit: int = 20) -> int:
        """Serve up to `limit` due subscriptions, each in its own transaction."""
        served = 0
        for _ in range(limit):
            async with self.database.transaction() as session:
                state = await self._take_due(session)
                if state is None:
                    break
                await self._serve(session, state)
                served += 1
        return served

    async def run(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> None:
        while not stop.is_set():
            try:
                served = await self.run_once()
            except Exception as exc:  # keep notifying; the state rows are unchanged
                log.error("notifier pass failed", extra={"error_type": type(exc).__name__})
                served = 0
            if served:
                continue
            self.wake.clear()
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=idle_seconds, return_when="FIRST_COMPLETED"
            )
            for waiter in pending:
                waiter.cancel()

    async def _take_due(self, session: AsyncSession) -> Row[Any] | None:
        s = subscription_state.c
        query = (
            select(subscription_state)
            .where(s.status.in_(("requested", "active", "error")), s.next_attempt_at <= now_utc())
            .order_by(s.next_attempt_at)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return (await session.execute(query)).first()

    async def _serve(self, session: AsyncSession, state: Row[Any]) -> None:
        repository = FhirRepository(session)
        stored = await repository.current("Subscription", state.subscription_id)
        if stored is None or stored.deleted:
            await self._update(session, state, status="off")
            return
        subscription = read_subscription(stored.resource())
        if state.status == "requested":
            await self._deliver(session, repository, stored, subscription, state, "handshake", [])
            return
        events = await self._pending(session, repository, state, subscription)
        if events:
            await self._deliver(
                session, repository, stored, subscription, state, "event-notification", events
            )
            return
        now = now_utc()
        heartbeat = subscription.heartbeat_seconds
        if heartbeat and state.status == "active":
            last = state.last_sent_at or now - timedelta(seconds=heartbeat)
            if now - last >= timedelta(seconds=heartbeat):
                result = await self._post(subscription, state, "heartbeat", [], None)
                if result.delivered:
                    await self._update(
                        session,
                        state,
                        last_sent_at=now,
                        next_attempt_at=now + timedelta(seconds=heartbeat),
                    )
                else:
                    await self._failed(session, repository, stored, state, result)
                return
            await self._update(session, state, next_attempt_at=last + timedelta(seconds=heartbeat))
            return
        await self._update(session, state, next_attempt_at=now + IDLE)

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

    async def _deliver(
        self,
        session: AsyncSession,
        repository: FhirRepository,
        stored: StoredResource,
        subscription: SubscriptionRequest,
        state: Row[Any],
        kind: str,
        events: list[NumberedEvent],
    ) -> None:
        """Send a handshake or the next events; on success they count as delivered."""
        traceparent = events[0].traceparent if events else None
        result = await self._post(subscription, state, kind, events, traceparent)
        if not result.delivered:
            await self._failed(session, repository, stored, state, result)
            return
        delivered_through = events[-1].number if events else None
        await self._succeeded(session, repository, stored, subscription, state, delivered_through)

    async def _post(
        self,
        subscription: SubscriptionRequest,
        state: Row[Any],
        kind: str,
        events: list[NumberedEvent],
        traceparent: str | None,
    ) -> DeliveryResult:
        status = status_parameters(
            subscription=f"{self.base_url}/Subscription/{subscription.id}",
            topic=subscription.topic,
            status="active" if state.status == "error" else state.status,
            kind=kind,
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
            traceparent=traceparent,
        )

    async def _succeeded(
        self,
        session: AsyncSession,
        repository: FhirRepository,
        stored: StoredResource,
        subscription: SubscriptionRequest,
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
