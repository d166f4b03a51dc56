"""The intake service: `uvicorn --factory services.intake.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.consumers import CONSUMPTIONS
from services.intake.resources import REGISTRY
from shared.app import create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(
        registry=REGISTRY,
        settings=settings or ServiceSettings(service_name="intake"),
        description="Orders in: patients, client facilities, imaging orders, studies and "
        "the DICOMweb endpoints their images are fetched from.",
        consumptions=CONSUMPTIONS,
    )
