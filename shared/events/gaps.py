"""Events a consumer missed: found by their numbers, fetched again from the publisher.

A subscription numbers its events 1, 2, 3... A notification whose event number jumps past
the last one this consumer handled for that subscription means the events in between were
lost (a publisher that gave up retrying, a notification dropped on the way). The consumer
asks the publisher for them (`Subscription/{id}/$events?eventsSinceNumber=&eventsUntilNumber=`,
Subscriptions R5 Backport) and handles them first, in order. Events the publisher no longer
keeps are logged -- numbers only, never content -- and skipped.

Gaps are looked for only after the first event a consumer handled for a subscription: what
a topic fired before that is the consumption's backlog's to catch up.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.received import MalformedNotification, ReceivedEvent, read_notification
from shared.events.tables import inbox_event
from shared.peers import Peers, PeerUnavailable

log = logging.getLogger("teleradiology.consumer")


async def last_handled(session: AsyncSession, subscription: str) -> int | None:
    """The highest event number handled for `subscription`; None before the first."""
    found = await session.execute(
        select(func.max(inbox_event.c.event_number)).where(
            inbox_event.c.subscription == subscription[:255]
        )
    )
    return found.scalar()


def subscription_id(reference: str) -> str | None:
    """The id in a Subscription reference (`.../Subscription/<id>`)."""
    head, _, tail = reference.rstrip("/").rpartition("/")
    return tail if head.endswith("Subscription") and tail else None


async def missed_events(
    peers: Peers, publisher: str, reference: str, since: int, until: int
) -> list[ReceivedEvent]:
    """Events `since`..`until` of the subscription `reference` at `publisher`, in order; the
    numbers the publisher no longer has are logged and left out."""
    wanted = range(since, until + 1)
    found: dict[int, ReceivedEvent] = {}
    identifier = subscription_id(reference)
    next_number = since
    while identifier and next_number <= until:
        page = await _replayed(peers, publisher, identifier, next_number, until)
        fresh = [e for e in page if e.number in wanted and e.number not in found]
        if not fresh:
            break
        # Keyed in the inbox as the notifications name the subscription, so a late
        # redelivery of a fetched event is known as handled.
        found.update((e.number, replace(e, subscription=reference)) for e in fresh)
        next_number = max(e.number for e in fresh) + 1
    lost = [n for n in wanted if n not in found]
    if lost:
        log.warning(
            "missed events no longer kept by the publisher",
            extra={
                "publisher": publisher,
                "subscription": identifier,
                "first_missing": lost[0],
                "missing": len(lost),
            },
        )
    return [found[n] for n in sorted(found)]


async def _replayed(
    peers: Peers, publisher: str, identifier: str, since: int, until: int
) -> list[ReceivedEvent]:
    """One `$events` answer of the publisher (empty when it no longer has the subscription)."""
    body = await peers.get(
        publisher,
        f"Subscription/{identifier}/$events",
        params={"eventsSinceNumber": str(since), "eventsUntilNumber": str(until)},
    )
    if body is None:
        return []
    try:
        return list(read_notification(body).events)
    except MalformedNotification as error:
        raise PeerUnavailable(f"{publisher}: $events answered no notification") from error
