"""Keeping a service's own subscriptions in place at the services it consumes from.

At start-up each consumption is written to its publisher as a conditional update keyed by
topic and endpoint (`PUT Subscription?criteria=<topic>&url=<endpoint>`): the first replica
creates it, later starts and other replicas update the same one (a new secret or filter
takes effect, and status `requested` asks for a fresh handshake -- numbering and pending
events carry on). A publisher that is not up yet is retried with backoff until it is.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from shared.events.consumer import EVENTS_PATH, Consumption
from shared.events.delivery import next_retry_delay
from shared.events.subscriptions import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    MAX_COUNT,
    PAYLOAD_CONTENT,
    SIGNING_SECRET,
    TIMEOUT,
)
from shared.peers import Peers, PeerUnavailable
from shared.settings import ServiceSettings

log = logging.getLogger("teleradiology.subscriptions")
HEARTBEAT_SECONDS = 300
TIMEOUT_SECONDS = 30
MAX_EVENTS_PER_NOTIFICATION = 20


def endpoint_of(consumption: Consumption, settings: ServiceSettings) -> str:
    if not settings.internal_url:
        raise ValueError("INTERNAL_URL is needed for this service to receive notifications")
    return f"{settings.internal_url}{EVENTS_PATH}/{consumption.name}"


def subscription_resource(consumption: Consumption, settings: ServiceSettings) -> dict[str, Any]:
    """The Subscription (R4 backport form) that delivers `consumption`'s events here."""
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": consumption.description or f"{settings.service_name}: {consumption.name}",
        "criteria": consumption.topic,
        "channel": {
            "extension": [
                {"url": HEARTBEAT_PERIOD, "valueUnsignedInt": HEARTBEAT_SECONDS},
                {"url": TIMEOUT, "valueUnsignedInt": TIMEOUT_SECONDS},
                {"url": MAX_COUNT, "valuePositiveInt": MAX_EVENTS_PER_NOTIFICATION},
            ],
            "type": "rest-hook",
            "endpoint": endpoint_of(consumption, settings),
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]},
        },
        "extension": [
            {
                "url": SIGNING_SECRET,
                "valueString": settings.events_signing_secret.get_secret_value(),
            }
        ],
    }
    if consumption.filters:
        resource["_criteria"] = {
            "extension": [{"url": FILTER_CRITERIA, "valueString": f} for f in consumption.filters]
        }
    return resource


async def subscribe(consumption: Consumption, settings: ServiceSettings, peers: Peers) -> str:
    """Create or refresh the consumption's Subscription at its publisher; its id."""
    stored = await peers.put(
        consumption.publisher,
        "Subscription",
        subscription_resource(consumption, settings),
        params={"criteria": consumption.topic, "url": endpoint_of(consumption, settings)},
    )
    return str(stored.get("id"))


async def keep_subscribed(
    consumptions: tuple[Consumption, ...],
    settings: ServiceSettings,
    peers: Peers,
    *,
    on_subscribed: Callable[[Consumption], Awaitable[object]] | None = None,
    rng: random.Random | None = None,
) -> None:
    """Subscribe every consumption, retrying each until its publisher accepts it; then
    `on_subscribed` (e.g. its backlog), retried the same way until it succeeds."""
    rng = rng or random.Random()
    waiting = list(consumptions)
    attempt = 0
    while waiting:
        attempt += 1
        for consumption in list(waiting):
            try:
                subscription = await subscribe(consumption, settings, peers)
                if on_subscribed is not None:
                    await on_subscribed(consumption)
            except PeerUnavailable as error:
                log.warning(
                    "subscription not yet in place",
                    extra={"consumer": consumption.name, "reason": str(error), "attempt": attempt},
                )
                continue
            waiting.remove(consumption)
            log.info(
                "subscribed",
                extra={"consumer": consumption.name, "subscription": subscription},
            )
        if waiting:
            await asyncio.sleep(next_retry_delay(attempt, base=0.5, cap=30.0, rng=rng) + 0.2)
