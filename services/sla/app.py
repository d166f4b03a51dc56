"""The sla service: `uvicorn --factory services.sla.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from services.sla.consumers import CONSUMPTIONS
from services.sla.predictor import predicting
from services.sla.resources import REGISTRY
from services.sla.settings import sla_settings
from services.sla.turnaround import turnaround_router
from shared.app import create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(
        registry=REGISTRY,
        settings=sla_settings(settings),
        description="Turnaround: per-order timelines, breaches and contract compliance reports.",
        consumptions=CONSUMPTIONS,
        operations=(turnaround_router(),),
        workers=(predicting,),
    )
