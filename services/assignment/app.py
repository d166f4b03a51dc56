"""The assignment service: `uvicorn --factory services.assignment.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from services.assignment.consumers import CONSUMPTIONS
from services.assignment.resources import REGISTRY
from shared.app import create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(
        registry=REGISTRY,
        settings=settings or ServiceSettings(service_name="assignment"),
        description="Roster and matching: radiologists, their roles and contracts, and the Task that assigns each order.",
        consumptions=CONSUMPTIONS,
    )
