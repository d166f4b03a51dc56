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
    COMMUNICATION_KIND_SYSTEM,
    CRITICAL_RESULT,
    ESCALATION,
    acknowledge_by,
    kind_of,
    level_of,
)
from services.reporting.critical_sweep import SweepMemory, sweep
from services.reporting.tests.platform import OPERATIONS, Order, Platform, report_of
from shared.fhir.service import format_instant, now_utc
from shared.follow_up import FOLLOW_UP_STATUS_SYSTEM, FOLLOW_UP_TASK_SYSTEM
from tests.support.consumers import deliver_event
from tests.support.rest import create, update
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

    await update(platform.reporting, {**report_of(read, status="amended", category=1), "id": final["id"]})
    await sweep(state, memory)
    loops = await communications(platform, subject=read.patient, _sort="sent")
    assert [o["priority"] for o in loops] == ["routine", "stat"]


async def test_an_unflagged_report_opens_nothing(platform: Platform) -> None:
    read = await platform.ordered_and_assigned()
    await platform.report(read, category=None)

    result = await sweep(platform.reporting_app.state, SweepMemory())

    assert result.opened == 0
    assert await communications(platform) == []
