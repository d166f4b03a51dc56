"""The sla service: `uvicorn --factory services.sla.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from services.sla.consumers import CONSUMPTIONS
from services.sla.dashboard.page import dashboard_router
from services.sla.metrics import metrics_router
from services.sla.predictor import predicting
from services.sla.reports import reports_router
from services.sla.resources import REGISTRY
from services.sla.settings import sla_settings
from services.sla.turnaround import turnaround_router
from shared.app import create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    resolved = sla_settings(settings)
    return create_service_app(
        registry=REGISTRY,
        settings=resolved,
        description="Turnaround: per-order timelines, breaches and contract compliance reports.",
        consumptions=CONSUMPTIONS,
        operations=(turnaround_router(), reports_router()),
        routers=(metrics_router(), dashboard_router(resolved.fhir_base_path)),
        workers=(predicting,),
    )
