"""sla's consumptions with what they gather from other services: the contract a read Task
names (kept per order from the newest Task version), the radiologist behind a signing role,
the order a critical result or a delivery is about (through its report); and a lost event,
fetched back from the publisher, leaving the timeline complete."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from services.sla.consumers import CONSUMPTIONS
from services.sla.facts import OrderFacts, facts_of_order
from services.sla.tests.builders import (
    T0,
    Peers,
    affiliation,
    at,
    diagnostic_report,
    new_order_id,
    order,
    sla_target,
    study,
    task,
    under_contract,
)
from services.sla.tests.test_breaches import deliver
from services.sla.timeline import record
from shared.events.notifications import NumberedEvent, notification_bundle, status_parameters
from shared.events.topics import TOPIC_BASE
from shared.fhir.service import format_instant
from tests.support.consumers import deliver_event


async def heard(app: FastAPI, topic: str, resource: dict[str, Any], peers: Peers) -> None:
    """The event of `resource` on `topic`, through sla's own consumption of it."""
    consumption = next(c for c in CONSUMPTIONS if c.name == topic)
    await deliver_event(app, consumption, resource, peers)


async def facts(app: FastAPI, order_id: str) -> OrderFacts:
    async with app.state.database.transaction() as session:
        found = await facts_of_order(session, order_id)
    assert found is not None
    return found


async def recorded(app: FastAPI, *resources: dict[str, Any]) -> None:
    for resource in resources:
        async with app.state.database.transaction() as session:
            await record(session, resource)


def communication(
    report_id: str, *, minutes: float, status: str = "in-progress", version: int = 1
) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "id": f"critical-{report_id}",
        "status": status,
        "basedOn": [{"reference": f"DiagnosticReport/{report_id}"}],
        "about": [{"reference": f"DiagnosticReport/{report_id}/_history/1"}],
        "meta": {"versionId": str(version), "lastUpdated": format_instant(at(minutes))},
    }


# -- contracts --------------------------------------------------------------------------------


async def test_the_newest_task_version_names_the_contract_whose_terms_count(
    sla_app: FastAPI,
) -> None:
    order_id = new_order_id()
    peers = Peers(
        affiliation("primary", sla_target("routine", 120)),
        affiliation("overflow", sla_target("routine", 30, "images-to-final")),
    )
    rerouted = under_contract(task(order_id, minutes=20, version=2), "overflow")
    first = under_contract(task(order_id, minutes=5), "primary")

    await recorded(sla_app, order(order_id, minutes=0, priority="routine"))
    await recorded(sla_app, study(order_id, minutes=10))
    await heard(sla_app, "task-status-changed", rerouted, peers)
    await heard(sla_app, "task-created", first, peers)  # heard late: changes nothing

    found = await facts(sla_app, order_id)
    assert found.contract == "OrganizationAffiliation/overflow"
    assert (found.clock, found.target_minutes) == ("images-to-final", 30)
    assert (found.started_at, found.deadline) == (at(10), at(40))
    contracts = [r for r in peers.asked if r.startswith("OrganizationAffiliation/")]
    assert contracts == ["OrganizationAffiliation/overflow", "OrganizationAffiliation/primary"]


async def test_a_read_waiting_without_a_contract_falls_back_to_the_tasks_deadline(
    sla_app: FastAPI,
) -> None:
    order_id = new_order_id()
    peers = Peers(affiliation("primary", sla_target("routine", 120)))

    await recorded(sla_app, order(order_id, minutes=0, priority="routine"))
    await heard(
        sla_app, "task-created", under_contract(task(order_id, minutes=5), "primary"), peers
    )
    unassigned = task(order_id, minutes=30, owner=None, version=2, deadline=90)
    await heard(sla_app, "task-status-changed", unassigned, peers)

    found = await facts(sla_app, order_id)
    assert (found.contract, found.owner) == (None, None)
    assert (found.clock, found.target_minutes, found.deadline) == ("ordered-to-final", 90, at(90))


# -- radiologist ------------------------------------------------------------------------------


def role(role_id: str, practitioner: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": role_id,
        "practitioner": {"reference": practitioner},
    }


async def test_the_radiologist_is_the_owners_until_the_final_names_its_signer(
    sla_app: FastAPI,
) -> None:
    order_id = new_order_id()
    peers = Peers(
        role("reader-1", "Practitioner/dr-one"), role("reader-7", "Practitioner/dr-seven")
    )
    final = diagnostic_report(order_id, minutes=50)
    final["resultsInterpreter"] = [{"reference": "PractitionerRole/reader-7"}]
    completed = task(order_id, minutes=51, status="completed", version=3)

    await recorded(sla_app, order(order_id, minutes=0))
    await heard(sla_app, "task-created", task(order_id, minutes=5), peers)
    reading = await facts(sla_app, order_id)
    await heard(sla_app, "report-final", final, peers)
    await heard(sla_app, "task-status-changed", completed, peers)  # after the final: stays

    assert reading.radiologist == "Practitioner/dr-one"
    assert (await facts(sla_app, order_id)).radiologist == "Practitioner/dr-seven"


# -- critical results and delivery ------------------------------------------------------------


async def test_critical_results_and_delivery_mark_the_timeline_of_the_reports_order(
    sla_app: FastAPI,
) -> None:
    order_id = new_order_id()
    report = diagnostic_report(order_id, minutes=30, status="preliminary")
    peers = Peers(report)
    sent = communication(report["id"], minutes=32)
    acknowledged = communication(report["id"], minutes=41, status="completed", version=2)
    delivered = communication(report["id"], minutes=70)
    delivered["id"] = f"delivery-{report['id']}"

    await recorded(sla_app, order(order_id, minutes=0), report)
    await heard(sla_app, "critical-result-acknowledged", acknowledged, peers)
    await heard(sla_app, "critical-result", sent, peers)
    await heard(sla_app, "critical-result", sent, peers)
    await heard(sla_app, "report-delivered", delivered, peers)

    milestones = (await facts(sla_app, order_id)).milestones
    assert {m: milestones.get(m) for m in ("critical-communicated", "acknowledged")} == {
        "critical-communicated": at(32),
        "acknowledged": at(41),
    }
    assert milestones["delivered"] == at(70)
    assert list(milestones)[-3:] == ["delivered", "critical-communicated", "acknowledged"]


# -- a lost event -----------------------------------------------------------------------------


class Publisher:
    """Stands in for assignment answering `$events` with the one event that never came."""

    def __init__(self, lost: dict[int, dict[str, Any]]) -> None:
        self.lost = lost

    async def get(self, service: str, path: str, *, params: dict[str, str]) -> dict[str, Any]:
        assert (service, path) == ("assignment", "Subscription/task-status-changed/$events")
        base = "http://assignment.internal/fhir"
        since, until = int(params["eventsSinceNumber"]), int(params["eventsUntilNumber"])
        events = [
            NumberedEvent(
                n, "Task", r["id"], int(r["meta"]["versionId"]), T0, orjson.dumps(r).decode()
            )
            for n, r in sorted(self.lost.items())
            if since <= n <= until
        ]
        status = status_parameters(
            subscription=f"{base}/Subscription/task-status-changed",
            topic=f"{TOPIC_BASE}/task-status-changed",
            status="active",
            kind="query-event",
            events_since_start=until,
            events=events,
            content="full-resource",
            base_url=base,
        )
        answer: dict[str, Any] = orjson.loads(
            notification_bundle(status, events, content="full-resource", base_url=base)
        )
        return answer

    async def read(self, service: str, reference: str) -> dict[str, Any] | None:
        return None


async def test_a_lost_task_event_is_fetched_back_and_the_timeline_is_complete(
    sla: httpx.AsyncClient, sla_app: FastAPI
) -> None:
    order_id = new_order_id()
    accepted = task(order_id, minutes=10, status="accepted", version=2)
    held = task(order_id, minutes=20, status="on-hold", version=3)
    resumed = task(order_id, minutes=35, status="in-progress", version=4)
    peers, sla_app.state.peers = sla_app.state.peers, Publisher({2: held})
    try:
        await deliver(sla, "order-registered", order(order_id, priority="routine"), 1)
        await deliver(sla, "task-status-changed", accepted, 1)
        await deliver(sla, "task-status-changed", resumed, 3)  # event 2 never came
    finally:
        sla_app.state.peers = peers

    found = await facts(sla_app, order_id)
    assert [p.started_by for p in found.pauses] == [f"Task/task-{order_id}/_history/3"]
    assert found.paused_minutes == 15
    assert found.milestones["accepted"] == at(10)


# -- $turnaround ------------------------------------------------------------------------------


async def test_turnaround_says_which_clock_counts_its_target_holds_and_effective_deadline(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    order_id = new_order_id()
    peers = Peers(affiliation("primary", sla_target("stat", 30)))
    await recorded(sla_app, order(order_id, minutes=0, priority="stat"), study(order_id, minutes=4))
    await heard(
        sla_app, "task-created", under_contract(task(order_id, minutes=5), "primary"), peers
    )
    for minutes, status, version in ((10, "on-hold", 2), (22, "in-progress", 3)):
        held = under_contract(
            task(order_id, minutes=minutes, status=status, version=version), "primary"
        )
        await heard(sla_app, "task-status-changed", held, peers)
    await recorded(sla_app, diagnostic_report(order_id, minutes=40, status="preliminary"))

    response = await sla.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})

    assert response.status_code == 200, response.text
    values = {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in response.json()["parameter"]
        if "part" not in p
    }
    assert values["clock"] == "images-to-preliminary"
    assert values["contract"] == {"reference": "OrganizationAffiliation/primary"}
    assert (values["target-minutes"], values["paused-minutes"], values["on-hold"]) == (
        30,
        12,
        False,
    )
    assert values["deadline"] == format_instant(at(46))  # images 4 + 30 + 12 on hold
    assert values["task-deadline"] == format_instant(at(60))
    assert values["met-deadline"] is True
