"""The loop across all four services, as real processes on PostgreSQL: an EHR places an
order, assignment makes the read Task for a licensed and privileged radiologist, the
radiologist reports, the EHR's subscription hears of it, and sla tells the turnaround."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.e2e.loop import (
    SECRET,
    created,
    facility,
    parameter,
    place_order,
    privileges,
    radiologist,
    report,
    subscribe,
    tasks_of,
    wait_until,
)
from tests.e2e.platform import E2EPlatform
from tests.support.subscriber import Subscriber

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@contextmanager
def client_trace() -> Iterator[None]:
    """The EHR's own trace (TRACEPARENT) as the current context: when an in-process test
    before this one instrumented httpx in this process, the instrumentation writes the
    traceparent header from the current context, over the one the test set."""
    parent = SpanContext(
        trace_id=int(TRACE_ID, 16),
        span_id=int(TRACEPARENT.split("-")[2], 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        yield
    finally:
        otel_context.detach(token)


@pytest.fixture(scope="module")
def ehr() -> Iterator[Subscriber]:
    with Subscriber(SECRET) as subscriber:
        yield subscriber


@pytest.fixture(scope="module")
def journey(platform: E2EPlatform, ehr: Subscriber) -> dict[str, Any]:
    """One order's journey to the point its Task exists: who is who, and the order."""
    with platform.client() as client:
        site = facility(client, "TX")
        reader = radiologist(client, "Okafor", "TX", "NM")
        role = privileges(client, reader, site)
        # Not eligible: licensed elsewhere, or licensed but without privileges here.
        elsewhere = privileges(client, radiologist(client, "Lindqvist", "CA"), site)
        radiologist(client, "Moreau", "TX")
        subscribe(client, "report-final", ehr.endpoint("/reports"))
        subscribe(client, "task-created", ehr.endpoint("/tasks"))
        ehr.wait_for(lambda seen: len(seen.events(type="handshake")) >= 2, timeout=30)
        with client_trace():
            client.headers["traceparent"] = TRACEPARENT
            order_id = place_order(client, site, state="TX")
            del client.headers["traceparent"]
        task = wait_until(lambda: tasks_of(client, order_id), what="the read Task")[0]
    return {
        "site": site,
        "reader": reader,
        "role": role,
        "elsewhere": elsewhere,
        "order": order_id,
        "task": task,
    }


def test_a_new_order_gets_a_task_for_the_licensed_privileged_radiologist(
    journey: dict[str, Any],
) -> None:
    task = journey["task"]
    assert task["owner"]["reference"] == journey["role"]
    assert task["status"] == "requested"
    assert task["priority"] == "stat"
    assert task["restriction"]["period"]["end"]
    assert task["focus"]["reference"] == f"ServiceRequest/{journey['order']}"


def test_the_order_journey_is_one_trace(journey: dict[str, Any], ehr: Subscriber) -> None:
    # EHR request -> intake outbox -> notification -> assignment -> Task -> notification.
    task_notice = ehr.wait_for(
        lambda seen: [n for n in seen.events() if n.path == "/tasks"], timeout=30
    )[0]
    assert task_notice.traceparent is not None
    assert task_notice.traceparent.split("-")[1] == TRACE_ID


def test_only_the_task_owner_may_report(platform: E2EPlatform, journey: dict[str, Any]) -> None:
    with platform.client() as client:
        patient = journey["task"]["for"]
        stranger = radiologist(client, "Nakamura", "TX")
        refused = client.post("/DiagnosticReport", json=report(journey["order"], patient, stranger))
        assert refused.status_code == 422, refused.text
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert refused.json()["issue"][0]["expression"] == ["DiagnosticReport.resultsInterpreter"]


def test_a_final_report_completes_the_task_notifies_the_ehr_and_sla_tells_turnaround(
    platform: E2EPlatform, journey: dict[str, Any], ehr: Subscriber
) -> None:
    with platform.client() as client:
        task = journey["task"]
        task["status"] = "accepted"
        created(client.put(f"/Task/{task['id']}", json=task))
        posted = created(
            client.post(
                "/DiagnosticReport",
                json=report(journey["order"], task["for"], journey["reader"]),
            )
        )

        notice = ehr.wait_for(
            lambda seen: [n for n in seen.events() if n.path == "/reports"], timeout=30
        )[0]
        assert [r["id"] for r in notice.resources] == [posted["id"]]
        assert list(notice.event_numbers) == [1]

        def completed() -> dict[str, Any] | None:
            current = tasks_of(client, journey["order"])[0]
            return current if current["status"] == "completed" else None

        done = wait_until(completed, what="the Task completed")
        assert (
            done["output"][0]["valueReference"]["reference"] == f"DiagnosticReport/{posted['id']}"
        )

        def turnaround() -> dict[str, Any] | None:
            answer = client.get(
                "/$turnaround", params={"order": f"ServiceRequest/{journey['order']}"}
            )
            body: dict[str, Any] = answer.json()
            return body if answer.status_code == 200 and _milestones(body).get("final") else None

        timeline = wait_until(turnaround, what="sla's timeline with the final report")
    milestones = _milestones(timeline)
    assert list(milestones) == ["ordered", "assigned", "accepted", "final"]
    intervals = {
        p["part"][0]["valueCode"]: p["part"][1]["valueDecimal"]
        for p in parameter(timeline, "interval")
    }
    assert 0 <= intervals["ordered-to-final"] < 10
    assert parameter(timeline, "met-deadline")[0]["valueBoolean"] is True
    assert parameter(timeline, "priority")[0]["valueCode"] == "stat"


def test_an_order_nobody_may_read_waits_unassigned_with_the_reason(
    platform: E2EPlatform, journey: dict[str, Any]
) -> None:
    with platform.client() as client:
        order_id = place_order(client, journey["site"], state="WY")
        task = wait_until(lambda: tasks_of(client, order_id), what="the Task")[0]
    assert "owner" not in task
    assert task["businessStatus"]["coding"][0]["code"] == "unassigned"
    assert "WY" in task["statusReason"]["text"]


def test_turnaround_of_an_unknown_order_is_not_found(platform: E2EPlatform) -> None:
    with platform.client() as client:
        answer = client.get("/$turnaround", params={"order": "ServiceRequest/unknown"})
    assert answer.status_code == 404
    assert answer.json()["resourceType"] == "OperationOutcome"


def _milestones(parameters: dict[str, Any]) -> dict[str, str]:
    return {
        p["part"][0]["valueCode"]: p["part"][1]["valueInstant"]
        for p in parameter(parameters, "milestone")
    }
