"""OpenTelemetry tracing: a provider per process, set up from the app's lifespan."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import ProcessSettings


def _exporter(settings: ProcessSettings) -> SpanExporter | None:
    if settings.otel_traces_exporter == "console":
        return ConsoleSpanExporter()
    if settings.otel_traces_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = (settings.otel_exporter_otlp_endpoint or "").rstrip("/") + "/v1/traces"
        return OTLPSpanExporter(endpoint=endpoint)
    return None


def instrument_app(app: FastAPI) -> None:
    """Trace every request (spans go to whichever provider the lifespan installs)."""
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz")


def start_tracing(
    settings: ProcessSettings, engine: AsyncEngine | None = None
) -> TracerProvider | None:
    """Install the process's tracer provider and instrument the database (if any) and HTTP
    clients."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.otel_traces_sample_ratio)),
        )
        exporter = _exporter(settings)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    if engine is not None:
        SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=provider)
    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return provider
