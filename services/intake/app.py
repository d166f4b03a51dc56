"""The intake service: `uvicorn --factory services.intake.app:create_app`.

Intake also hosts the platform's token endpoint (`POST /auth/token`, shared/smart): it
keeps the Organizations the registered clients act for, and asks assignment for the
Practitioners their users are.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.consumers import CONSUMPTIONS
from services.intake.resources import REGISTRY
from shared.app import create_service_app
from shared.settings import ServiceSettings
from shared.smart.endpoints import token_router
from shared.smart.grants import TokenService

# Where the types a client registration may name, and intake does not keep, are kept.
REGISTRATION_OWNERS = {"Practitioner": "assignment"}


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings(service_name="intake")
    tokens = TokenService.from_settings(settings, owners=REGISTRATION_OWNERS)
    return create_service_app(
        registry=REGISTRY,
        settings=settings,
        description="Orders in: patients, client facilities, imaging orders, studies and "
        "the DICOMweb endpoints their images are fetched from; and the platform's token "
        "endpoint.",
        routers=(token_router(tokens),),
        consumptions=CONSUMPTIONS,
    )
