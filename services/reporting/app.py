"""The reporting service: `uvicorn --factory services.reporting.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from services.reporting.critical_sweep import critical_sweeping
from services.reporting.hl7v2 import hl7v2_router
from services.reporting.resources import REGISTRY
from services.reporting.settings import reporting_settings
from services.reporting.signing_keys_operation import signing_keys_router
from services.reporting.verify_operation import verify_router
from shared.app import create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(
        registry=REGISTRY,
        settings=reporting_settings(settings),
        description="Reads out: diagnostic reports, their signatures and critical-result communications.",
        operations=(verify_router(), signing_keys_router(), hl7v2_router()),
        workers=(critical_sweeping,),
    )
