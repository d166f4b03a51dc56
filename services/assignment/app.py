"""The assignment service: `uvicorn --factory services.assignment.app:create_app`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.assignment.consumers import CONSUMPTIONS
from services.assignment.eligibility import eligibility_router
from services.assignment.engine.engine import EngineSettings
from services.assignment.reroute_operation import reroute_router
from services.assignment.resources import REGISTRY
from services.assignment.settings import assignment_settings
from services.assignment.state import EngineState
from services.assignment.sweeper import sweeping
from shared.app import create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    resolved = assignment_settings(settings)

    async def start_engine(app: FastAPI) -> None:
        app.state.assignment = EngineState(
            EngineSettings(max_wait=timedelta(minutes=resolved.assignment_max_wait_minutes))
        )

    return create_service_app(
        registry=REGISTRY,
        settings=resolved,
        description="Roster and matching: radiologists, their roles and contracts, and the Task that assigns each order.",
        on_startup=start_engine,
        consumptions=CONSUMPTIONS,
        operations=(eligibility_router(), reroute_router()),
        workers=(sweeping,),
    )
