"""Events in a running service: Subscription served for its topics, and the relay and
notifier running beside the API for as long as the app lives."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

from fastapi import FastAPI

from shared.db import Database
from shared.events.bootstrap import keep_subscribed
from shared.events.consumer import Consumption, catch_up, service_context
from shared.events.delivery import EndpointPolicy, new_delivery_client
from shared.events.dispatch import SubscriptionDispatcher
from shared.events.notifier import Notifier
from shared.events.relay import OutboxRelay
from shared.events.subscriptions import subscription_definition
from shared.fhir.registry import Registry
from shared.settings import ServiceSettings
from shared.smart.clients import ClientRegistry


def endpoint_policy(settings: ServiceSettings) -> EndpointPolicy:
    return EndpointPolicy(
        allow_http=settings.subscription_allow_http,
        allowed_hosts=frozenset(settings.subscription_allowed_hosts),
        allowed_networks=tuple(
            ipaddress.ip_network(n, strict=False) for n in settings.subscription_allowed_networks
        ),
        allowed_ports=frozenset(settings.subscription_allowed_ports),
    )


def with_subscriptions(registry: Registry, settings: ServiceSettings) -> Registry:
    """`registry` plus Subscription, when the service offers topics."""
    if not registry.topics or registry.get("Subscription") is not None:
        return registry
    definition = subscription_definition(
        registry.topics, registry.definitions, endpoint_policy(settings)
    )
    return replace(registry, definitions=(*registry.definitions, definition))


def subscription_owners(settings: ServiceSettings) -> ClientRegistry | None:
    """The registered clients whose subscriptions may go on: AUTH_CLIENTS_FILE as set.
    Intake's development fallback (the committed development clients) is not used here:
    in development tokens are signed for any client id (the key is in git, the tests sign
    their own), so only a registry set on purpose says who is withdrawn."""
    if settings.auth_clients_file is None:
        return None
    return ClientRegistry(
        settings.auth_clients_file,
        development=settings.environment == "development",
        jwks_ttl_seconds=settings.auth_jwks_cache_seconds,
    )


@asynccontextmanager
async def background_events(
    app: FastAPI,
    database: Database,
    registry: Registry,
    settings: ServiceSettings,
    consumptions: tuple[Consumption, ...] = (),
) -> AsyncIterator[None]:
    """Run the outbox relay and the notifier until the app stops, and put this service's
    own subscriptions in place at the services it consumes from."""
    if not settings.events_enabled:
        yield
        return
    if consumptions and not settings.internal_url:
        raise ValueError(
            f"{settings.service_name} consumes events: set INTERNAL_URL (its own origin as "
            "the other services reach it), or EVENTS_ENABLED=false"
        )
    stop = asyncio.Event()
    async with new_delivery_client() as client:
        notifier = Notifier(
            database=database,
            registry=registry,
            client=client,
            policy=endpoint_policy(settings),
            base_url=settings.public_fhir_base,
            retry_period=timedelta(hours=settings.subscription_retry_hours),
            clients=subscription_owners(settings),
            receipt_context=lambda session: service_context(app.state, session),
        )
        relay = OutboxRelay(
            database, SubscriptionDispatcher(registry), on_dispatched=notifier.wake.set
        )
        app.state.relay, app.state.notifier = relay, notifier
        tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(notifier.run(stop))]
        subscribing = asyncio.create_task(
            keep_subscribed(
                consumptions,
                settings,
                app.state.peers,
                on_subscribed=lambda consumption: catch_up(app.state, consumption),
            )
        )
        try:
            yield
        finally:
            stop.set()
            subscribing.cancel()
            await asyncio.gather(*tasks, subscribing, return_exceptions=True)
