"""The FHIR front door: `uvicorn --factory services.gateway.app:create_app`.

One FHIR base URL for every service: each `/fhir/{Type}...` request is relayed to the
service owning the type, `/fhir/metadata` lists every service's resources, and the
platform's own definitions (extensions, code systems, ...) are answered here. Which
service owns what is read from the services' registries, never written down here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from services.assignment.resources import REGISTRY as ASSIGNMENT
from services.gateway.capability import CapabilityCache
from services.gateway.definitions import PLATFORM_DEFINITIONS
from services.gateway.endpoints import gateway_router
from services.gateway.routing import RouteTable
from services.gateway.settings import GatewaySettings
from services.gateway.upstreams import Upstreams
from services.intake.resources import REGISTRY as INTAKE
from services.reporting.resources import REGISTRY as REPORTING
from services.sla.resources import REGISTRY as SLA
from shared.app import VERSION, add_platform_layers
from shared.fhir.conformance import Catalogue
from shared.fhir.service import format_instant, now_utc
from shared.logs import configure_logging
from shared.telemetry import start_tracing

REGISTRIES = (INTAKE, ASSIGNMENT, REPORTING, SLA)
log = logging.getLogger("teleradiology.gateway")


def create_app(
    settings: GatewaySettings | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """The gateway app. `transports` (by service name) replaces the network for those
    services, e.g. an `httpx.ASGITransport` over an app in the same process."""
    settings = settings or GatewaySettings()
    routes = RouteTable.from_registries(REGISTRIES)
    origins = settings.service_urls
    if set(origins) != set(routes.services):
        raise ValueError(f"settings name services {sorted(origins)}, not {routes.services}")
    timeout = httpx.Timeout(settings.upstream_timeout_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        start_tracing(settings)
        async with AsyncExitStack() as stack:
            clients = {
                service: await stack.enter_async_context(
                    httpx.AsyncClient(
                        transport=(transports or {}).get(service),
                        timeout=timeout,
                        follow_redirects=False,
                    )
                )
                for service in routes.services
            }
            app.state.upstreams = Upstreams(clients, origins, settings.fhir_base_path)
            app.state.capabilities = CapabilityCache(settings.metadata_cache_seconds)
            log.info("started", extra={"upstreams": origins})
            yield

    app = FastAPI(
        title="Teleradiology FHIR gateway",
        description="One FHIR base URL: each resource type is relayed to its service.",
        version=VERSION,
        lifespan=lifespan,
        openapi_url=None,  # each service documents its own API at <service>/fhir/docs
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.routes = routes
    app.state.definitions = Catalogue(
        PLATFORM_DEFINITIONS, version=VERSION, date=format_instant(now_utc())
    )
    add_platform_layers(app)
    app.include_router(gateway_router(settings.fhir_base_path))
    return app
