"""Delivery receipts: what a service may do once one of its notifications reached a
subscriber -- e.g. reporting records that a final report reached the ordering facility's
EHR (docs/reporting.md, "Delivery to the EHR").

A service opts in with `Registry.delivery_receipt`. The notifier calls it after an event
notification was accepted (any 2xx) and the delivery's bookkeeping committed, in a
transaction of its own, with the delivered events and the access labels of the
subscription (its owner's access keys: e.g. `Organization/<id>` for a facility's EHR, `*`
for the platform's own services). Handshakes and heartbeats carry no events: no receipt.

Best effort, by design: the delivery stands whatever the hook does -- it is neither undone
nor sent again. A hook that fails is rolled back, logged (without PHI) and not retried:
what is lost is a record of the delivery, never a notification, and retrying would need a
second outbox for receipts. The same events may reach a subscriber twice (a lease that ran
out during a slow POST), so hooks must be idempotent (e.g. a create with a unique
identifier).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events.notifications import NumberedEvent
from shared.fhir.storage.repository import FhirRepository

if TYPE_CHECKING:
    from shared.events.consumer import ConsumerContext

log = logging.getLogger("teleradiology.receipts")


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """One event notification a subscriber accepted."""

    subscription: str  # the Subscription's id
    topic: str  # the topic's canonical URL
    labels: frozenset[str]  # the subscription's access labels (its owner's access keys)
    delivered_at: datetime  # when the subscriber's 2xx answer came
    events: tuple[NumberedEvent, ...]


DeliveryHook = Callable[[DeliveryReceipt, "ConsumerContext"], Awaitable[None]]
# The context a hook works in (as the service itself), for a transaction's session.
ReceiptContext = Callable[[AsyncSession], "ConsumerContext"]


async def subscription_labels(session: AsyncSession, subscription_id: str) -> frozenset[str]:
    """The access labels a subscription was given when it was made (its owner's keys)."""
    repository = FhirRepository(session)
    stored = await repository.current("Subscription", subscription_id)
    if stored is None:
        return frozenset()
    return frozenset(await repository.labels([stored.pk]))


async def deliver_receipt(
    database: Database,
    hook: DeliveryHook,
    context_for: ReceiptContext,
    *,
    subscription: str,
    topic: str,
    delivered_at: datetime,
    events: tuple[NumberedEvent, ...],
) -> bool:
    """Run `hook` on one delivery in its own transaction; False when it failed (logged,
    rolled back, not retried: the delivery itself stands)."""
    try:
        async with database.transaction() as session:
            receipt = DeliveryReceipt(
                subscription=subscription,
                topic=topic,
                labels=await subscription_labels(session, subscription),
                delivered_at=delivered_at,
                events=events,
            )
            await hook(receipt, context_for(session))
    except Exception as error:  # the receipt is best effort; the delivery is done
        log.error(
            "delivery receipt failed",
            extra={
                "subscription": subscription,
                "events": len(events),
                "error_type": type(error).__name__,
            },
        )
        return False
    return True
