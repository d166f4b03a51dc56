"""One process of bench/assign_service.py: an assignment replica taking order events, or the
baseline writing the same read Tasks without deciding.

Each process starts the assignment app in-process on the shared database (create_app and
its lifespan: its own engine in memory, its sweeper, no events relay), routes its warm-up
orders, waits at the barrier with the other processes of the phase, then delivers its
orders with `concurrency` in flight and puts its observations on the queue.

A delivery is what the consumer endpoint does for one event (shared/events/consumer.py
`_consume`, without the HTTP request and signature check): one transaction with the inbox
row and the `order-registered` handler, whose Patient read goes to a fake intake in memory.
Probes (bench/assign_service_probes.py) time the stages of each delivery.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import uvloop
from asgi_lifespan import LifespanManager
from opentelemetry import trace

from bench.assign_service_probes import (
    SWEEPS,
    GcClock,
    Timing,
    count_statements,
    current,
    install_probes,
)
from services.assignment import state
from services.assignment.app import create_app
from services.assignment.consumers import CONSUMPTIONS, assign_order
from services.assignment.decisions import decision_event, record_decision
from services.assignment.engine.engine import Engine
from services.assignment.engine.model import Decision, Reader
from services.assignment.orders import exam_from_order
from services.assignment.settings import AssignmentSettings
from services.assignment.tasks import read_task
from services.assignment.tests.routing_support import FakeIntake
from shared.events.consumer import ConsumerContext, _first_delivery, service_context
from shared.events.received import ReceivedEvent
from shared.fhir.service import now_utc
from tests.fixtures import DEV_TOKEN, EVENTS_SECRET

CONSUMPTION = next(c for c in CONSUMPTIONS if c.handler is assign_order)
_TRACER = trace.get_tracer("teleradiology.consumer")


@dataclass(slots=True)
class Job:
    name: str  # the phase and replica: the subscription its events come by
    mode: str  # "route" | "baseline"
    database_url: str
    audit_url: str
    orders: list[dict[str, Any]]
    warmup: list[dict[str, Any]]
    patients: dict[str, dict[str, Any]]
    concurrency: int
    readers: list[tuple[str, str]] = field(default_factory=list)  # baseline: (role id, name)
    sweep_seconds: float = 5.0
    probe_engine: bool = False  # after the window: choose() with and without explain


def replica_settings(url: str, audit_url: str, sweep_seconds: float = 5.0) -> AssignmentSettings:
    """What a test app gets (tests/fixtures.py make_settings), quiet, without rate limits;
    reads are never timed out for not being accepted during the run."""
    values: dict[str, Any] = dict(
        service_name="assignment",
        environment="development",
        database_url=url,
        audit_database_url=audit_url,
        dev_auth_token=DEV_TOKEN,
        service_token=DEV_TOKEN,
        events_signing_secret=EVENTS_SECRET,
        events_enabled=False,
        rate_limit_per_second=0,
        log_level="WARNING",
        otel_traces_exporter="none",
        assignment_accept_minutes=24 * 60,
        assignment_sweep_seconds=sweep_seconds,
    )
    return AssignmentSettings(**values)


def _event(order: dict[str, Any], number: int, subscription: str) -> ReceivedEvent:
    return ReceivedEvent(
        subscription=f"http://intake.bench/fhir/Subscription/{subscription}",
        topic=CONSUMPTION.topic,
        number=number,
        focus=f"http://intake.bench/fhir/ServiceRequest/{order['id']}",
        resource=order,
        traceparent=None,
    )


async def route_one(
    app_state: Any, intake: FakeIntake, order: dict[str, Any], number: int, subscription: str
) -> Timing:
    """Deliver one order event as the consumer endpoint does; the delivery's timing."""
    timing = Timing()
    token = current.set(timing)
    try:
        with _TRACER.start_as_current_span(f"consume {CONSUMPTION.name}"):
            async with app_state.database.transaction() as session:
                event = _event(order, number, subscription)
                if not await _first_delivery(session, CONSUMPTION.name, event):
                    raise RuntimeError(f"event {number} delivered before")
                context = service_context(app_state, session)
                peers: Any = intake
                context = ConsumerContext(session, context.fhir, peers, context.settings)
                await CONSUMPTION.handler(event, context)
                handled = time.perf_counter()
        end = time.perf_counter()
    finally:
        current.reset(token)
    timing.add("commit", end - handled)
    inside = sum(v for k, v in timing.stages.items() if k != "lookup_before")
    timing.add("inbox+lookup", (end - timing.start) - inside)
    timing.stages["total"] = end - timing.start
    timing.stages["held"] = end - timing.locked if timing.locked else 0.0
    timing.stages["statements_before"], timing.stages["statements_locked"] = timing.statements
    return timing


def baseline_writer(readers: list[tuple[str, str]]) -> Callable[..., Awaitable[Timing]]:
    """The same read Task written through FhirService.create in its own transaction: no
    inbox row, no lock, no engine (the owner taken in turn), no read_work, no audit."""
    chosen = [
        Reader(id=r, practitioner=r, name=name, group="g", timezone="UTC") for r, name in readers
    ]

    async def write(
        app_state: Any, intake: FakeIntake, order: dict[str, Any], number: int, subscription: str
    ) -> Timing:
        timing = Timing()
        patient = await intake.read("intake", order["subject"]["reference"])
        exam = exam_from_order(order, patient)
        reader = chosen[number % len(chosen)]
        decision = Decision(exam, exam.ordered_at + timedelta(hours=1), "baseline", reader=reader)
        async with app_state.database.transaction() as session:
            fhir = service_context(app_state, session).fhir
            await fhir.create("Task", read_task(order, decision, authored=now_utc()))
        timing.stages["total"] = time.perf_counter() - timing.start
        return timing

    return write


async def _lanes(
    deliver: Callable[..., Awaitable[Timing]],
    app_state: Any,
    intake: FakeIntake,
    orders: Iterator[tuple[int, dict[str, Any]]],
    job: Job,
    failures: list[str],
) -> list[Timing]:
    done: list[Timing] = []

    async def lane() -> None:
        for number, order in orders:
            try:
                done.append(await deliver(app_state, intake, order, number, job.name))
            except Exception:  # counted and reported: the parent fails the run
                failures.append(traceback.format_exc(limit=6))

    await asyncio.gather(*(lane() for _ in range(job.concurrency)))
    return done


async def probe_engine(app_state: Any, exams: list[Any]) -> dict[str, Any]:
    """After the window, on the replica's engine as it stands: choose() with the explanation
    a routing decision records and without it (the shortlist only), and the decision's
    AuditEvent each way -- its size and the time to record it (it goes to the audit log,
    like any decision's; nothing else is written). Alternating, one exam at a time."""
    engine: Engine = app_state.assignment.engine
    spent: dict[str, list[float]] = {"explain": [], "shortlist": []}
    recorded: dict[str, list[float]] = {"explain": [], "shortlist": []}
    sizes: dict[str, list[int]] = {"explain": [], "shortlist": []}
    for exam in exams:
        for key in ("explain", "shortlist"):
            began = time.perf_counter()
            decision = engine.choose(exam, now_utc(), explain=key == "explain")
            spent[key].append(time.perf_counter() - began)
            event = decision_event(
                decision, outcome="assigned", task_path="Task/probe/_history/1", service="bench"
            )
            sizes[key].append(len(json.dumps(event)))
            began = time.perf_counter()
            await record_decision(app_state.audit, event)
            recorded[key].append(time.perf_counter() - began)
    figures: dict[str, Any] = {"readers": len(engine.roster.readers), "exams": len(exams)}
    figures["open_reads"] = sum(1 for _ in engine.workload)
    figures["roster_reload_ms_p50"] = round(await _roster_reload(app_state) * 1000, 1)
    for key in spent:
        figures[key] = {
            "choose_ms_p50": round(statistics.median(spent[key]) * 1000, 2),
            "record_ms_p50": round(statistics.median(recorded[key]) * 1000, 2),
            "event_bytes_p50": statistics.median(sizes[key]),
        }
    return figures


async def _roster_reload(app_state: Any, times: int = 3) -> float:
    """What every replica does under the lock after a roster or contract write: the roster
    read and indexed again (into a spare EngineState, the replica's own is left alone)."""
    spent = []
    for _ in range(times):
        spare = state.EngineState(app_state.assignment.settings)
        async with app_state.database.transaction() as session:
            began = time.perf_counter()
            await spare._load_roster(session)
            spent.append(time.perf_counter() - began)
    return statistics.median(spent)


async def run(job: Job, barrier: Any, queue: Any) -> None:
    install_probes()
    app = create_app(replica_settings(job.database_url, job.audit_url, job.sweep_seconds))
    intake = FakeIntake(*job.patients.values())
    deliver = route_one if job.mode == "route" else baseline_writer(job.readers)
    failures: list[str] = []
    collector = GcClock()
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=120):
        count_statements(app.state.database.engine, app.state.audit.database.engine)
        numbers = iter(enumerate(job.warmup, start=10_000_000))
        await _lanes(deliver, app.state, intake, numbers, job, failures)
        await asyncio.to_thread(barrier.wait, 600)
        SWEEPS.clear()
        collector.reset()
        began, cpu = time.time(), time.process_time()
        numbers = iter(enumerate(job.orders, start=1))
        done = await _lanes(deliver, app.state, intake, numbers, job, failures)
        ended, cpu = time.time(), time.process_time() - cpu
        queue.put(
            {
                "began": began,
                "ended": ended,
                "cpu_s": cpu,
                "timings": [t.stages for t in done],
                "sweeps": list(SWEEPS),
                "failures": failures,
                "gc_s": list(collector.seconds),
                "gc_collections": list(collector.collections),
            }
        )
        if job.probe_engine:  # after the report, so that the phase's CPU figures leave it out
            exams = [
                exam_from_order(o, await intake.read("intake", o["subject"]["reference"]))
                for o in job.orders[:100]
            ]
            queue.put({"probe": await probe_engine(app.state, exams)})


def replica_main(job: Job, barrier: Any, queue: Any) -> None:
    """Entry point of a replica process (multiprocessing, spawn)."""
    try:
        uvloop.run(run(job, barrier, queue))
    except BaseException:
        queue.put({"fatal": traceback.format_exc()})
        barrier.abort()
        raise
