"""OpenTelemetry tracing: a provider per process, set up from the app's lifespan.

Spans never carry a query string: a search is PHI (`Patient?name=...&birthdate=...`), and
the HTTP instrumentations record the full URL. The query is cut off every URL attribute as
a span starts (a span processor, and the server spans' hook); the route template
(`http.route`, the span name) and the path stay.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span
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


# URL attributes of the old and the stable HTTP semantic conventions.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
_QUERY_ATTRIBUTES = ("url.query",)


def without_query(span: Span, *_: Any) -> None:
    """Cut the query string off the span's URL attributes (a span hook: extra arguments,
    the request, are not needed)."""
    attributes = getattr(span, "attributes", None)
    if not span.is_recording() or not attributes:
        return
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and ("?" in value or "#" in value):
            span.set_attribute(name, value.split("?", 1)[0].split("#", 1)[0])
    for name in _QUERY_ATTRIBUTES:
        if name in attributes:
            span.set_attribute(name, "")


class QueryStripper(SpanProcessor):
    """`without_query` on every span as it starts (the HTTP client spans, and any other
    instrumentation's); the server spans set theirs again after starting, hence the hook."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        without_query(span)


def instrument_app(app: FastAPI) -> None:
    """Trace every request (spans go to whichever provider the lifespan installs)."""
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz", server_request_hook=without_query
    )


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
        provider.add_span_processor(QueryStripper())  # before any exporter sees a span
        exporter = _exporter(settings)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    if engine is not None:
        SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=provider)
    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return provider
