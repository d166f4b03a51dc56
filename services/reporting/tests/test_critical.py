"""A report flagged with an actionable finding opens a closed loop: a Communication to the
ordering provider and a follow-up Task at assignment; the ordering facility acknowledges
it, which closes the loop; silence escalates it one step at a time up a bounded ladder."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.assignment.consumers import CONSUMPTIONS as ASSIGNMENT_CONSUMPTIONS
from services.reporting.critical import (
    ACKNOWLEDGE_BY_EXTENSION,
    CRITICAL_RESULT,
    ESCALATION,
    acknowledge_by,
    kind_of,
    level_of,
)
from services.reporting.critical_sweep import SweepMemory, step_of, sweep, sync_follow_up
from services.reporting.tests.platform import OPERATIONS, Order, Platform, report_of
from shared.auth import Principal
from shared.fhir.service import format_instant, now_utc
from shared.follow_up import FOLLOW_UP_STATUS_SYSTEM, FOLLOW_UP_TASK_SYSTEM
from tests.support.consumers import deliver_event
from tests.support.rest import update
from tests.support.tenants import as_caller, facility_ehr, radiologist


async def communications(platform: Platform, **params: str) -> list[dict[str, Any]]:
    response = await platform.reporting.get("/Communication", params={"_count": "50", **params})
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry") or []]


async def follow_up_of(platform: Platform, opening: dict[str, Any]) -> dict[str, Any]:
    response = await platform.assignment.get(
        "/Task", params={"identifier": f"{FOLLOW_UP_TASK_SYSTEM}|{opening['id']}"}
    )
    entries = response.json().get("entry") or []
    assert len(entries) == 1, response.text
    return entries[0]["resource"]


def due(communication: dict[str, Any]) -> datetime:
    moment = acknowledge_by(communication)
    assert moment is not None
    return moment


def business(task: dict[str, Any]) -> str:
    codings = task["businessStatus"]["coding"]
    return next(c["code"] for c in codings if c["system"] == FOLLOW_UP_STATUS_SYSTEM)


def acknowledgement(opening: dict[str, Any], **changes: Any) -> dict[str, Any]:
    received = datetime.fromisoformat(opening["sent"].replace("Z", "+00:00")) + timedelta(
        seconds=30
    )
    return {**opening, "status": "completed", "received": format_instant(received)} | changes


async def opened(platform: Platform, category: int = 1) -> tuple[Order, dict[str, Any]]:
    """A flagged final report of a new read, its loop opened by a sweep."""
    read = await platform.ordered_and_assigned()
    await platform.report(read, category=category)
    result = await sweep(platform.reporting_app.state, SweepMemory())
    assert result.opened == 1
    [opening] = await communications(platform, subject=read.patient)
    return read, opening


# -- opening the loop ---------------------------------------------------------------------


async def test_a_flagged_report_sends_the_result_to_the_ordering_provider_once(
    platform: Platform,
) -> None:
    read = await platform.ordered_and_assigned(provider="Practitioner/dr-ordering")
    report = await platform.report(read, category=1)
    before = now_utc()

    memory = SweepMemory()
    first = await sweep(platform.reporting_app.state, memory)
    again = await sweep(platform.reporting_app.state, SweepMemory())  # another replica

    assert (first.opened, again.opened) == (1, 0)
    [opening] = await communications(platform, subject=read.patient)
    assert kind_of(opening) == CRITICAL_RESULT
    assert opening["status"] == "in-progress"
    assert opening["priority"] == "stat"
    assert opening["recipient"] == [{"reference": "Practitioner/dr-ordering"}]
    assert opening["sender"] == {"reference": read.role}
    assert opening["basedOn"] == [{"reference": f"DiagnosticReport/{report['id']}"}]
    assert opening["about"] == [{"reference": f"DiagnosticReport/{report['id']}/_history/1"}]
    assert "Acute subdural haematoma" in opening["payload"][0]["contentString"]
    due = acknowledge_by(opening)
    assert due is not None and timedelta(minutes=14) < due - before <= timedelta(minutes=16)

    task = await follow_up_of(platform, opening)
    assert task["status"] == "requested"
    assert task["focus"] == {"reference": f"Communication/{opening['id']}"}
    assert task["owner"] == {"reference": read.facility}
    assert task["requester"] == {"reference": read.role}
    assert task["for"] == {"reference": read.patient}
    assert task["restriction"]["period"]["end"] == format_instant(due)
    assert business(task) == "notified"


async def test_without_a_person_ordering_the_facility_is_told(platform: Platform) -> None:
    read = await platform.ordered_and_assigned(provider=None)
    await platform.report(read, category=2)

    await sweep(platform.reporting_app.state, SweepMemory())

    [opening] = await communications(platform, subject=read.patient)
    assert opening["recipient"] == [{"reference": read.facility}]
    assert opening["priority"] == "urgent"


async def test_a_loop_cut_short_by_an_unreachable_assignment_is_completed_by_the_next_sweep(
    platform: Platform,
) -> None:
    read = await platform.ordered_and_assigned()
    await platform.report(read, category=1)
    state, memory = platform.reporting_app.state, SweepMemory()

    platform.reach_all(down=("assignment.test",))
    cut_short = await sweep(state, memory)
    [opening] = await communications(platform, subject=read.patient)
    missing = await platform.assignment.get(
        "/Task", params={"identifier": f"{FOLLOW_UP_TASK_SYSTEM}|{opening['id']}"}
    )
    platform.reach_all()
    repaired = await sweep(state, memory)

    assert (cut_short.opened == 0 and memory.since is None) or repaired.opened == 0
    assert missing.json().get("entry") is None
    assert business(await follow_up_of(platform, opening)) == "notified"
    assert len(await communications(platform, subject=read.patient)) == 1


async def test_a_later_version_opens_a_second_loop_only_when_the_category_rises(
    platform: Platform,
) -> None:
    read = await platform.ordered_and_assigned()
    report = await platform.report(read, status="preliminary", category=3)
    state, memory = platform.reporting_app.state, SweepMemory()
    await sweep(state, memory)

    final = await update(platform.reporting, {**report_of(read, category=3), "id": report["id"]})
    await sweep(state, memory)
    assert len(await communications(platform, subject=read.patient)) == 1

    await update(
        platform.reporting, {**report_of(read, status="amended", category=1), "id": final["id"]}
    )
    await sweep(state, memory)
    loops = await communications(platform, subject=read.patient, _sort="sent")
    assert [o["priority"] for o in loops] == ["routine", "stat"]


async def test_an_unflagged_report_opens_nothing(platform: Platform) -> None:
    read = await platform.ordered_and_assigned()
    await platform.report(read, category=None)

    result = await sweep(platform.reporting_app.state, SweepMemory())

    assert result.opened == 0
    assert await communications(platform) == []


# -- acknowledgement closes the loop ------------------------------------------------------


async def test_the_facility_acknowledges_and_the_follow_up_is_completed(
    platform: Platform,
) -> None:
    read, opening = await opened(platform)

    async with as_caller(platform.reporting_app, facility_ehr(read.facility)) as ehr:
        answer = await ehr.put(f"/Communication/{opening['id']}", json=acknowledgement(opening))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed"

    consumption = next(
        c for c in ASSIGNMENT_CONSUMPTIONS if c.name == "critical-result-acknowledged"
    )
    await deliver_event(platform.assignment_app, consumption, answer.json(), peers=None)
    await deliver_event(platform.assignment_app, consumption, answer.json(), peers=None)  # again
    task = await follow_up_of(platform, opening)
    assert task["status"] == "completed"
    assert business(task) == "acknowledged"
    assert task["output"][0]["valueReference"] == {"reference": f"Communication/{opening['id']}"}

    late = await sweep(
        platform.reporting_app.state,
        SweepMemory(),
        now=due(opening) + timedelta(hours=1),
    )
    assert late.escalated == 0  # an acknowledged loop never escalates


async def test_a_follow_up_made_after_the_acknowledgement_is_closed_at_once(
    platform: Platform,
) -> None:
    read, opening = await opened(platform)
    task = await follow_up_of(platform, opening)
    # As if the sweep had been interrupted before making the Task ...
    assert (await platform.assignment.delete(f"/Task/{task['id']}")).status_code in (200, 204)
    async with as_caller(platform.reporting_app, facility_ehr(read.facility)) as ehr:
        acknowledged = await ehr.put(
            f"/Communication/{opening['id']}", json=acknowledgement(opening)
        )
    assert acknowledged.status_code == 200

    # ... and made it only now, after the acknowledgement was heard at assignment.
    await sync_follow_up(platform.reporting_app.state, SweepMemory(), opening, step_of(opening))

    remade = await follow_up_of(platform, opening)
    assert remade["status"] == "completed" and business(remade) == "acknowledged"


@pytest.mark.parametrize(
    ("changes", "expressions"),
    [
        ({"payload": [{"contentString": "nothing"}]}, ["Communication.payload"]),
        ({"received": None}, ["Communication.received"]),
        ({"received": "2020-01-01T00:00:00Z"}, ["Communication.received"]),
        ({"status": "stopped"}, ["Communication.status"]),
        (
            {"recipient": [{"reference": "Practitioner/someone"}], "received": None},
            ["Communication.recipient", "Communication.received"],
        ),
    ],
    ids=["changes-payload", "no-received", "received-before-sent", "not-completed", "several"],
)
async def test_an_acknowledgement_that_changes_more_or_says_less_is_refused(
    platform: Platform, changes: dict[str, Any], expressions: list[str]
) -> None:
    read, opening = await opened(platform)
    body = {k: v for k, v in acknowledgement(opening, **changes).items() if v is not None}

    async with as_caller(platform.reporting_app, facility_ehr(read.facility)) as ehr:
        answer = await ehr.put(f"/Communication/{opening['id']}", json=body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["issue"][0]["expression"] == expressions


async def test_only_the_ordering_facility_acknowledges_and_only_once(platform: Platform) -> None:
    read, opening = await opened(platform)
    other = facility_ehr("Organization/elsewhere")

    async with as_caller(platform.reporting_app, other) as stranger:
        assert (await stranger.get(f"/Communication/{opening['id']}")).status_code == 404
        refused = await stranger.put(
            f"/Communication/{opening['id']}", json=acknowledgement(opening)
        )
        # another tenant's resource does not exist for it (the platform's generic answer)
        assert refused.status_code == 405, refused.text
    async with as_caller(platform.reporting_app, radiologist(read.practitioner)) as reader:
        answer = await reader.put(f"/Communication/{opening['id']}", json=acknowledgement(opening))
        assert answer.status_code == 403, answer.text
    async with as_caller(platform.reporting_app, facility_ehr(read.facility)) as ehr:
        assert (
            await ehr.put(f"/Communication/{opening['id']}", json=acknowledgement(opening))
        ).status_code == 200
        current = (await ehr.get(f"/Communication/{opening['id']}")).json()
        twice = await ehr.put(f"/Communication/{opening['id']}", json=current)
        assert twice.status_code == 422, twice.text


async def test_operations_may_acknowledge_an_escalated_result(platform: Platform) -> None:
    _, opening = await opened(platform)
    operations = Principal(client_id="ops", scopes=frozenset({"system/*.cruds"}), role="admin")

    async with as_caller(platform.reporting_app, operations) as ops:
        answer = await ops.put(f"/Communication/{opening['id']}", json=acknowledgement(opening))
        changed = await ops.put(
            f"/Communication/{opening['id']}",
            json={**answer.json(), "payload": [{"contentString": "rewritten"}]},
        )

    assert answer.status_code == 200, answer.text
    assert changed.status_code == 422, changed.text


async def test_the_facility_sees_its_follow_up_and_another_facility_does_not(
    platform: Platform,
) -> None:
    read, opening = await opened(platform)
    task = await follow_up_of(platform, opening)

    for principal, status in [
        (facility_ehr(read.facility), 200),
        (facility_ehr("Organization/elsewhere"), 404),
    ]:
        async with as_caller(platform.assignment_app, principal) as caller:
            assert (await caller.get(f"/Task/{task['id']}")).status_code == status


async def test_only_the_platform_opens_a_loop(platform: Platform) -> None:
    read, opening = await opened(platform)
    forged = {k: v for k, v in opening.items() if k not in ("id", "meta", "identifier")}

    async with as_caller(platform.reporting_app, radiologist(read.practitioner)) as reader:
        answer = await reader.post("/Communication", json=forged)

    assert answer.status_code == 403, answer.text


# -- silence escalates --------------------------------------------------------------------


async def test_silence_escalates_to_the_facility_then_operations_then_stops(
    platform: Platform,
) -> None:
    read, opening = await opened(platform)
    state = platform.reporting_app.state
    due = acknowledge_by(opening)
    assert due is not None

    levels = []
    for _ in range(4):
        replicas = [await sweep(state, SweepMemory(), now=due + timedelta(seconds=1)) for _ in "ab"]
        levels.append([r.escalated for r in replicas])
        steps = await communications(platform, **{"part-of": f"Communication/{opening['id']}"})
        latest = max([opening, *steps], key=level_of)
        due = acknowledge_by(latest)
        assert due is not None

    assert levels == [[1, 0], [1, 0], [0, 0], [0, 0]]  # two steps, each made once
    steps = sorted(
        await communications(platform, **{"part-of": f"Communication/{opening['id']}"}),
        key=level_of,
    )
    assert [level_of(s) for s in steps] == [1, 2]
    assert [s["recipient"] for s in steps] == [
        [{"reference": read.facility}],
        [{"reference": OPERATIONS}],
    ]
    assert all(kind_of(s) == ESCALATION and s["status"] == "completed" for s in steps)
    task = await follow_up_of(platform, opening)
    assert business(task) == "unacknowledged"
    assert task["owner"] == {"reference": OPERATIONS}
    assert task["restriction"]["period"]["end"] == next(
        e["valueDateTime"] for e in steps[1]["extension"] if e["url"] == ACKNOWLEDGE_BY_EXTENSION
    )


async def test_an_escalated_loop_is_still_acknowledged_on_its_opening(platform: Platform) -> None:
    read, opening = await opened(platform)
    state = platform.reporting_app.state
    await sweep(state, SweepMemory(), now=due(opening) + timedelta(seconds=1))
    task = await follow_up_of(platform, opening)
    assert business(task) == "escalated-facility"
    [step] = await communications(platform, **{"part-of": f"Communication/{opening['id']}"})

    async with as_caller(platform.reporting_app, facility_ehr(read.facility)) as ehr:
        on_step = await ehr.put(f"/Communication/{step['id']}", json=acknowledgement(step))
        on_opening = await ehr.put(f"/Communication/{opening['id']}", json=acknowledgement(opening))

    assert on_step.status_code == 422, on_step.text
    assert on_opening.status_code == 200, on_opening.text
    consumption = next(
        c for c in ASSIGNMENT_CONSUMPTIONS if c.name == "critical-result-acknowledged"
    )
    await deliver_event(platform.assignment_app, consumption, on_opening.json(), peers=None)
    closed = await follow_up_of(platform, opening)
    assert closed["status"] == "completed" and business(closed) == "acknowledged"
    later = await sweep(state, SweepMemory(), now=due(step) + timedelta(hours=1))
    assert later.escalated == 0
    assert len(await communications(platform, subject=read.patient)) == 2
