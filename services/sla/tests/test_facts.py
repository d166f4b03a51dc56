"""An order's facts -- who and what the read is, which clock counts, its target, holds and
effective deadline -- as sla assembles them from the events it heard, in any order and with
repeats; and `order_facts` choosing orders by when their clock stopped or whether it runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.sla.facts import OrderFacts, facts_of_order, order_facts
from services.sla.tables import contract_term
from services.sla.tests.builders import at, diagnostic_report, new_order_id, order, study, task
from services.sla.timeline import record
from shared.orders import DICOM_MODALITY_SYSTEM, READ_CONTRACT_EXTENSION, SNOMED


async def recorded(app: FastAPI, *resources: dict[str, Any]) -> None:
    """Record each resource in its own transaction, as each event is handled."""
    for resource in resources:
        async with app.state.database.transaction() as session:
            await record(session, resource)


async def facts(app: FastAPI, order_id: str) -> OrderFacts:
    async with app.state.database.transaction() as session:
        found = await facts_of_order(session, order_id)
    assert found is not None
    return found


async def with_terms(app: FastAPI, contract_id: str, **terms: tuple[float, str | None]) -> None:
    """Store a contract's terms (priority -> (target minutes, clock)) as sla keeps them."""
    async with app.state.database.transaction() as session:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        for priority, (minutes, clock) in terms.items():
            await session.execute(
                insert(contract_term).values(
                    contract_id=contract_id,
                    priority=priority,
                    target_minutes=minutes,
                    clock=clock,
                    updated_at=at(0),
                )
            )


def stroke_ct_order(order_id: str) -> dict[str, Any]:
    body = order(order_id, minutes=0, priority="stat")
    body["requester"] = {"reference": "Organization/general-hospital"}
    body["code"] = {"coding": [{"system": DICOM_MODALITY_SYSTEM, "code": "CT"}]}
    body["reasonCode"] = [{"coding": [{"system": SNOMED, "code": "422504002"}]}]
    return body


def under_contract(resource: dict[str, Any], contract_id: str) -> dict[str, Any]:
    resource["extension"] = [
        {
            "url": READ_CONTRACT_EXTENSION,
            "valueReference": {"reference": f"OrganizationAffiliation/{contract_id}"},
        }
    ]
    return resource


def signed_by(report: dict[str, Any], practitioner: str) -> dict[str, Any]:
    report["resultsInterpreter"] = [
        {"reference": "PractitionerRole/reader-1"},
        {"reference": practitioner},
    ]
    return report


async def test_facts_say_who_and_what_the_read_is(sla_app: FastAPI) -> None:
    order_id = new_order_id()
    scanned = study(order_id, minutes=5)
    scanned["modality"] = [{"system": DICOM_MODALITY_SYSTEM, "code": "CT"}]

    await recorded(
        sla_app,
        signed_by(diagnostic_report(order_id, minutes=40), "Practitioner/dr-a"),
        task(order_id, minutes=10, owner="PractitionerRole/reader-1"),
        scanned,
        stroke_ct_order(order_id),
    )

    found = await facts(sla_app, order_id)
    assert (found.facility, found.modality, found.priority, found.stroke) == (
        "Organization/general-hospital",
        "CT",
        "stat",
        True,
    )
    assert (found.task, found.owner, found.radiologist) == (
        f"Task/task-{order_id}",
        "PractitionerRole/reader-1",
        "Practitioner/dr-a",
    )


async def test_the_owner_is_the_newest_task_versions_whatever_order_they_came_in(
    sla_app: FastAPI,
) -> None:
    order_id = new_order_id()

    await recorded(
        sla_app,
        task(order_id, minutes=20, owner="PractitionerRole/reader-2", version=2),
        task(order_id, minutes=10, owner="PractitionerRole/reader-1", deadline=90),
    )

    found = await facts(sla_app, order_id)
    assert found.owner == "PractitionerRole/reader-2"
    assert found.task_deadline == at(60)


async def test_without_a_contract_the_tasks_deadline_counts_from_the_order(
    sla_app: FastAPI,
) -> None:
    order_id = new_order_id()

    await recorded(
        sla_app,
        order(order_id, minutes=0, priority="urgent"),
        task(order_id, minutes=5, deadline=120),
        diagnostic_report(order_id, minutes=100),
    )

    found = await facts(sla_app, order_id)
    assert (found.contract, found.clock, found.target_minutes) == (None, "ordered-to-final", 120)
    assert (found.started_at, found.stopped_at, found.deadline) == (at(0), at(100), at(120))
    assert found.met is True
    assert found.elapsed_minutes(at(500)) == 100
    assert found.budget_share(at(500)) == 100 / 120


async def test_a_stroke_under_contract_runs_the_stroke_clock_from_images_to_preliminary(
    sla_app: FastAPI,
) -> None:
    order_id, contract_id = new_order_id(), f"contract-{new_order_id()}"
    await with_terms(sla_app, contract_id, stroke=(20, None), stat=(60, "ordered-to-final"))

    await recorded(
        sla_app,
        stroke_ct_order(order_id),
        study(order_id, minutes=8),
        under_contract(task(order_id, minutes=9), contract_id),
        diagnostic_report(order_id, minutes=31, status="preliminary"),
    )

    found = await facts(sla_app, order_id)
    assert found.contract == f"OrganizationAffiliation/{contract_id}"
    assert (found.clock, found.target_minutes) == ("images-to-preliminary", 20)
    assert (found.started_at, found.stopped_at, found.deadline) == (at(8), at(31), at(28))
    assert found.met is False


async def test_a_hold_pauses_the_clock_once_however_its_versions_arrive(sla_app: FastAPI) -> None:
    order_id = new_order_id()
    held = task(order_id, minutes=20, status="on-hold", version=3)
    resumed = task(order_id, minutes=50, status="in-progress", version=4)

    await recorded(
        sla_app,
        order(order_id, minutes=0, priority="routine"),
        resumed,
        task(order_id, minutes=10, status="accepted", version=2, deadline=60),
        held,
        held,
        resumed,
    )
    running = await facts(sla_app, order_id)
    await recorded(sla_app, diagnostic_report(order_id, minutes=85))
    done = await facts(sla_app, order_id)

    assert [p.started_by for p in running.pauses] == [f"Task/task-{order_id}/_history/3"]
    assert (running.paused_minutes, running.on_hold) == (30, False)
    assert running.deadline == at(90)  # 60 minutes of target plus 30 on hold
    assert (done.stopped_at, done.met) == (at(85), True)
    assert done.elapsed_minutes(at(1000)) == 55


async def test_a_running_hold_counts_up_to_now(sla_app: FastAPI) -> None:
    order_id = new_order_id()

    await recorded(
        sla_app,
        order(order_id, minutes=0, priority="routine"),
        task(order_id, minutes=30, status="on-hold", version=2),
    )

    found = await facts(sla_app, order_id)
    assert found.on_hold is True
    assert found.pauses[0].end is None
    assert found.elapsed_minutes(at(90)) == 30


async def test_non_read_tasks_mark_nothing_and_say_nothing(sla_app: FastAPI) -> None:
    order_id = new_order_id()
    follow_up = task(order_id, minutes=5, status="on-hold", owner="PractitionerRole/other")
    follow_up["id"] = f"follow-up-{order_id}"
    follow_up["code"] = {"coding": [{"system": "urn:example:kinds", "code": "follow-up"}]}

    await recorded(sla_app, order(order_id, minutes=0), follow_up)

    found = await facts(sla_app, order_id)
    assert (found.owner, found.task, found.on_hold) == (None, None, False)
    assert "assigned" not in found.milestones


async def test_order_facts_chooses_by_when_the_clock_stopped_or_whether_it_runs(
    sla_app: FastAPI,
) -> None:
    early, late, running = new_order_id(), new_order_id(), new_order_id()
    for order_id, final in ((early, 30), (late, 300), (running, None)):
        await recorded(
            sla_app, order(order_id, minutes=0, priority="routine"), task(order_id, minutes=1)
        )
        if final is not None:
            await recorded(sla_app, diagnostic_report(order_id, minutes=final))
    mine = {early, late, running}

    async with sla_app.state.database.transaction() as session:
        stopped = await order_facts(session, stopped_from=at(0), stopped_to=at(60))
        still_open = await order_facts(session, open_only=True)
        everything = await order_facts(session)
        one = await order_facts(session, limit=1)

    assert [f.order_id for f in stopped if f.order_id in mine] == [early]
    assert [f.order_id for f in still_open if f.order_id in mine] == [running]
    assert {f.order_id for f in everything} >= mine
    assert len(one) == 1


def test_met_is_unknown_while_the_clock_runs() -> None:
    running = OrderFacts(
        order_id="o1",
        facility=None,
        contract=None,
        modality=None,
        priority="routine",
        stroke=False,
        radiologist=None,
        owner=None,
        task=None,
        clock="ordered-to-final",
        started_at=at(0),
        stopped_at=None,
        deadline=at(60),
        target_minutes=60,
        paused_minutes=0,
        on_hold=False,
        milestones={"ordered": at(0)},
    )
    now: datetime = at(30)
    assert running.met is None
    assert running.budget_share(now) == 0.5
