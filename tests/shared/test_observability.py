"""Logs and traces: structured, correlated, and free of PHI."""

from __future__ import annotations

import io
import logging

import httpx
import orjson
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

CANARY = "Zebulonia Quixtrapple"


def _capture_logs() -> tuple[io.StringIO, logging.Handler]:
    """A handler formatting exactly as the service's own JSON handler does."""
    service_handler = logging.getLogger().handlers[0]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(service_handler.formatter)
    for log_filter in service_handler.filters:
        handler.addFilter(log_filter)
    logging.getLogger().addHandler(handler)
    return buffer, handler


async def test_logs_are_json_with_trace_ids_and_never_carry_patient_data(
    client: httpx.AsyncClient,
) -> None:
    buffer, handler = _capture_logs()
    try:
        family, given = CANARY.split()
        patient = {"resourceType": "Patient", "name": [{"family": family, "given": [given]}]}
        created = await client.post("/Patient", json=patient)
        assert created.status_code == 201
        await client.get(f"/Patient?family={family}&given={given}")
        await client.get(f"/Patient?name={family}&bogus={given}")  # an error path too
        await client.post("/Patient", json={**patient, "birthDate": given})
        await client.put(f"/Patient/{created.json()['id']}", json={**patient, "id": "other"})
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [orjson.loads(line) for line in buffer.getvalue().splitlines() if line]
    access = [line for line in lines if line["logger"] == "teleradiology.access"]
    assert len(access) == 5
    assert all(line["trace_id"] and len(line["trace_id"]) == 32 for line in access)
    assert {line["status"] for line in access} == {201, 200, 400}
    for part in CANARY.split():
        assert part not in buffer.getvalue()


async def test_each_request_is_traced_with_its_route(
    client: httpx.AsyncClient, intake_app: FastAPI
) -> None:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        response = await client.get("/Patient?family=x")
        assert response.status_code == 200
    finally:
        exporter.shutdown()
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    assert server, "the request produced no server span"
    assert any("/Patient" in s.name for s in server)
    database = [s for s in spans if s.attributes and "db.system" in s.attributes]
    assert database, "the database query was not traced"
    assert len({s.context.trace_id for s in server + database}) == 1
