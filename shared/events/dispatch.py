"""Dispatch: turn outbox events into numbered subscription events (inside the relay's
transaction, so an event is numbered for a subscription exactly once).

For each change it finds the topics that fire, the subscriptions to those topics whose
filter criteria the resource meets, and gives each its next event number. Changes to
Subscription resources themselves keep the delivery state in step.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.outbox import OutboxEvent
from shared.events.subscriptions import read_subscription
from shared.events.tables import subscription_event, subscription_state
from shared.fhir.access import owner_access
from shared.fhir.registry import Registry
from shared.fhir.search.request import SearchLimits, parse_search
from shared.fhir.service import now_utc
from shared.fhir.storage.repository import FhirRepository

_LIMITS = SearchLimits(1, 1)


class SubscriptionDispatcher:
    """The relay's dispatcher for one service's topics."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def __call__(self, session: AsyncSession, events: list[OutboxEvent]) -> None:
        repository = FhirRepository(session)
        for event in events:
            if event.resource_type == "Subscription":
                await self._sync_state(session, repository, event)
            else:
                await self._number(session, repository, event)

    async def _sync_state(
        self, session: AsyncSession, repository: FhirRepository, event: OutboxEvent
    ) -> None:
        stored = await repository.current("Subscription", event.resource_id)
        s = subscription_state.c
        if stored is None or stored.deleted or stored.version_id != event.version_id:
            if stored is None or stored.deleted:
                await session.execute(
                    update(subscription_state)
                    .where(s.subscription_id == event.resource_id)
                    .values(status="off")
                )
            return  # a later version's own event will bring the state up to date
        resource = stored.resource()
        request = read_subscription(resource)
        moment = now_utc()
        status = "off" if request.status == "off" else None
        upsert = (pg_insert if repository.dialect == "postgresql" else sqlite_insert)(
            subscription_state
        ).values(
            subscription_id=request.id,
            topic=request.topic,
            status=status or "requested",
            events_since_start=0,
            delivered_through=0,
            next_attempt_at=moment,
            attempts=0,
        )
        changes: dict[str, Any] = {"topic": request.topic}
        if status == "off":  # by its owner, or by the server with the reason in `error`
            error = resource.get("error")
            changes.update(status="off", error=error[:512] if isinstance(error, str) else None)
        elif request.status == "requested":  # (re-)requested by the client: handshake again
            changes.update(status="requested", next_attempt_at=moment, attempts=0)
        await session.execute(
            upsert.on_conflict_do_update(index_elements=["subscription_id"], set_=changes)
        )

    async def _number(
        self, session: AsyncSession, repository: FhirRepository, event: OutboxEvent
    ) -> None:
        candidates = [
            t
            for t in self.registry.topics
            if t.resource_type == event.resource_type and event.interaction in t.interactions
        ]
        if not candidates:
            return
        current = await repository.version(event.resource_type, event.resource_id, event.version_id)
        previous = (
            await repository.version(event.resource_type, event.resource_id, event.version_id - 1)
            if event.version_id > 1
            else None
        )
        after = current.resource() if current and not current.deleted else None
        before = previous.resource() if previous and not previous.deleted else None
        fired = [t for t in candidates if t.fires(before, after)]
        if not fired:
            return
        s = subscription_state.c
        states = await session.execute(
            select(s.subscription_id, s.topic, s.status, s.failing_since).where(
                s.topic.in_([t.url for t in fired]), s.status != "off"
            )
        )
        for state in list(states):
            if await self._passes_filters(repository, event, state.subscription_id):
                await self._append(session, event, state)

    async def _passes_filters(
        self, repository: FhirRepository, event: OutboxEvent, subscription_id: str
    ) -> bool:
        stored = await repository.current("Subscription", subscription_id)
        if stored is None or stored.deleted:
            return False
        owner = owner_access(await repository.labels([stored.pk]))
        if owner is not None:  # never tell an owner about what it may not read
            confined = FhirRepository(repository.session, access=owner)
            if await confined.current(event.resource_type, event.resource_id) is None:
                return False
        definition = self.registry.get(event.resource_type)
        for text in read_subscription(stored.resource()).filters:
            if definition is None:
                return False
            items = parse_qsl(text.partition("?")[2], keep_blank_values=True)
            request = parse_search(
                definition, [*items, ("_id", event.resource_id)], limits=_LIMITS, lenient=False
            )
            if not await repository.count(event.resource_type, request):
                return False
        return True

    async def _append(self, session: AsyncSession, event: OutboxEvent, state: Row[Any]) -> None:
        s = subscription_state.c
        values: dict[str, Any] = {"events_since_start": s.events_since_start + 1}
        if state.failing_since is None:
            values["next_attempt_at"] = now_utc()  # deliver now unless backing off
        number = (
            await session.execute(
                update(subscription_state)
                .where(s.subscription_id == state.subscription_id)
                .values(**values)
                .returning(s.events_since_start)
            )
        ).scalar_one()
        await session.execute(
            subscription_event.insert().values(
                subscription_id=state.subscription_id,
                event_number=number,
                topic=state.topic,
                resource_type=event.resource_type,
                resource_id=event.resource_id,
                version_id=event.version_id,
                occurred_at=event.occurred_at,
                traceparent=event.traceparent,
            )
        )
