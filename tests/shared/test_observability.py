"""Logs and traces: structured, correlated, and free of PHI."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import orjson
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.fixtures import client_for
from tests.support.rest import assert_outcome

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


def _all_span_text(spans: Sequence[ReadableSpan]) -> str:
    """Every name, attribute, event and status text of `spans`, as one string to search."""
    parts: list[str] = []
    for span in spans:
        parts += [span.name, str(span.status.description or "")]
        parts += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
        for event in span.events:
            parts += [event.name, *(f"{k}={v}" for k, v in (event.attributes or {}).items())]
    return "\n".join(parts)


@pytest.fixture
def spans(intake_app: FastAPI) -> Iterator[InMemorySpanExporter]:
    """Every span the process finishes during the test."""
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
async def loopback_server() -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 answering every request 200; its origin."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_spans_keep_the_route_but_never_the_query_string(
    client: httpx.AsyncClient, spans: InMemorySpanExporter, loopback_server: str
) -> None:
    family, given = CANARY.split()
    await client.get("/Patient", params={"family": family, "given": given})
    await client.post("/Patient/_search", data={"name": family})
    async with httpx.AsyncClient(trust_env=False) as peer:  # an instrumented client's span
        await peer.get(f"{loopback_server}/fhir/Patient", params={"name": family})

    finished = spans.get_finished_spans()
    assert family not in _all_span_text(finished)
    assert given not in _all_span_text(finished)
    server = [s.attributes for s in finished if s.kind == trace.SpanKind.SERVER and s.attributes]
    assert {a.get("http.route") for a in server} == {"/fhir/Patient", "/fhir/Patient/_search"}
    outgoing = [s.attributes for s in finished if s.name == "GET" and s.attributes]
    assert [a.get("http.url") for a in outgoing] == [f"{loopback_server}/fhir/Patient"]


async def test_an_unexpected_errors_message_reaches_no_log_span_or_answer(
    intake_app: FastAPI, spans: InMemorySpanExporter
) -> None:
    async def fails() -> None:
        raise ValueError(f"could not file {CANARY}")

    intake_app.add_api_route("/fhir/failing-on-purpose", fails)
    routes = intake_app.router.routes
    routes.insert(0, routes.pop())  # before the FHIR catch-all
    buffer, handler = _capture_logs()
    try:
        async with client_for(intake_app) as client:
            response = await client.get("/failing-on-purpose")
    finally:
        logging.getLogger().removeHandler(handler)

    assert_outcome(response, 500, code="exception")
    assert CANARY not in response.text
    assert CANARY not in buffer.getvalue()
    assert '"error_type": "ValueError"' in buffer.getvalue()
    assert CANARY not in _all_span_text(spans.get_finished_spans())


def test_an_exception_logged_anywhere_keeps_its_type_but_not_its_text(
    client: httpx.AsyncClient,
) -> None:
    buffer, handler = _capture_logs()
    try:
        try:
            raise KeyError(CANARY)
        except KeyError:
            logging.getLogger("some.library").exception("failed for %s", "a reason")
    finally:
        logging.getLogger().removeHandler(handler)

    [line] = [orjson.loads(text) for text in buffer.getvalue().splitlines()]
    assert line["error_type"] == "KeyError"
    assert line["message"] == "failed for a reason"
    assert CANARY not in buffer.getvalue()


@pytest.mark.parametrize(
    "fields",
    [
        {"birthDate": CANARY},
        {"gender": CANARY},
        {"name": CANARY},
        {"resourceType": CANARY.split()[0]},
        {"resourceType": "Patient", "id": 7, "text": CANARY},
    ],
    ids=["bad-date", "bad-code", "wrong-type", "unknown-resource-type", "several"],
)
async def test_an_error_answer_never_quotes_the_values_it_refuses(
    client: httpx.AsyncClient, fields: dict[str, object]
) -> None:
    response = await client.post("/Patient", json={"resourceType": "Patient", **fields})

    assert_outcome(response, 400)
    for part in CANARY.split():
        assert part not in response.text
