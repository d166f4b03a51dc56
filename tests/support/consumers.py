"""Deliver one event to a service's handler in-process, as its consumer endpoint would."""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI

from shared.events.consumer import ConsumerContext, Consumption, gather_for, service_principal
from shared.events.received import ReceivedEvent
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService
from shared.peers import Peers
from shared.settings import ServiceSettings


async def deliver_event(
    app: FastAPI, consumption: Consumption, resource: dict[str, Any], peers: object
) -> None:
    """Run `consumption`'s handler on an event carrying `resource`, in one transaction, as
    the service itself; `peers` stands in for the other services."""
    event = ReceivedEvent(
        subscription=f"http://{consumption.publisher}.test/fhir/Subscription/s-1",
        topic=consumption.topic,
        number=1,
        focus=f"http://{consumption.publisher}.test/fhir/{resource['resourceType']}/{resource['id']}",
        resource=resource,
        traceparent=None,
    )
    settings: ServiceSettings = app.state.settings
    gathered = await gather_for(consumption, event, cast(Peers, peers))
    async with app.state.database.transaction() as session:
        fhir = FhirService(
            session=session,
            registry=app.state.registry,
            principal=service_principal(settings),
            limits=SearchLimits(settings.search_default_count, settings.search_max_count),
            base_url=settings.public_fhir_base,
            state=app.state,
        )
        context = ConsumerContext(session, fhir, cast(Peers, peers), settings, gathered)
        await consumption.handler(event, context)
