"""Each order's turnaround, as sla hears it from the other services' events: which
milestone each resource version marks, recorded once at the time the platform knew it,
whatever order the events arrive in; and `$turnaround`, answering with the milestones in
their canonical order, the intervals between them and whether the final report met the
deadline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.sla.facts import OrderFacts, facts_of_order
from services.sla.tests.builders import (
    at,
    diagnostic_report,
    new_order_id,
    order,
    study,
    task,
)
from services.sla.timeline import MILESTONES, intervals, marks, record
from shared.fhir.service import format_instant

# -- which milestones a version marks -------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (order("o1", minutes=1), ["ordered"]),
        (study("o1", minutes=2), ["images-available"]),
        (study("o1", minutes=2, status="registered"), []),
        (task("o1", minutes=3), ["assigned"]),
        (task("o1", minutes=3, owner=None), []),
        (task("o1", minutes=3, status="accepted"), ["assigned", "accepted"]),
        (task("o1", minutes=3, status="in-progress", owner=None), ["accepted"]),
        (task("o1", minutes=3, status="cancelled"), ["assigned"]),
        (task("o1", minutes=3, status="completed"), ["assigned"]),
        (diagnostic_report("o1", minutes=4, status="preliminary"), ["preliminary"]),
        (diagnostic_report("o1", minutes=4), ["final"]),
        (diagnostic_report("o1", minutes=4, status="amended"), []),
        ({"resourceType": "Patient", "id": "p1"}, []),
    ],
    ids=[
        "order",
        "study-available",
        "study-registered",
        "task-owned",
        "task-unowned",
        "task-accepted",
        "task-in-progress-unowned",
        "task-cancelled-owned",
        "task-completed-never-accepted",
        "report-preliminary",
        "report-final",
        "report-amended",
        "other-resource",
    ],
)
def test_each_resource_version_marks_its_milestones(
    resource: dict[str, Any], expected: list[str]
) -> None:
    found = marks(resource)

    assert [m.milestone for m in found] == expected
    version = resource.get("meta", {}).get("versionId")
    for mark in found:
        assert mark.order_id == "o1"
        assert mark.at == datetime.fromisoformat(
            resource["meta"]["lastUpdated"].replace("Z", "+00:00")
        )
        assert mark.source == f"{resource['resourceType']}/{resource['id']}/_history/{version}"


def test_a_study_or_report_for_two_orders_marks_both() -> None:
    shared = study("o1", minutes=5)
    shared["basedOn"].append({"reference": "ServiceRequest/o2"})

    assert [(m.order_id, m.milestone) for m in marks(shared)] == [
        ("o1", "images-available"),
        ("o2", "images-available"),
    ]


def test_intervals_are_the_minutes_between_known_milestones() -> None:
    found = intervals(
        {"ordered": at(0), "images-available": at(5), "assigned": at(10), "final": at(50.5)}
    )

    assert found == [
        ("ordered-to-assigned", 10.0),
        ("images-to-final", 45.5),
        ("ordered-to-final", 50.5),
    ]


# -- recording, in the sla app ---------------------------------------------------------------


async def recorded(app: FastAPI, *resources: dict[str, Any]) -> None:
    """Record each resource in its own transaction, as each event is handled."""
    for resource in resources:
        async with app.state.database.transaction() as session:
            await record(session, resource)


async def timeline_of(app: FastAPI, order_id: str) -> OrderFacts | None:
    async with app.state.database.transaction() as session:
        return await facts_of_order(session, order_id)


async def test_a_milestone_keeps_the_time_it_was_first_recorded(sla_app: FastAPI) -> None:
    order_id = new_order_id()
    await recorded(sla_app, task(order_id, minutes=10), task(order_id, minutes=10))

    await recorded(sla_app, task(order_id, minutes=25, status="accepted", version=2))

    found = await timeline_of(sla_app, order_id)
    assert found is not None
    assert found.milestones == {"assigned": at(10), "accepted": at(25)}


async def test_events_arriving_out_of_order_still_give_the_whole_timeline(sla_app: FastAPI) -> None:
    order_id = new_order_id()

    await recorded(
        sla_app,
        diagnostic_report(order_id, minutes=45),
        task(order_id, minutes=10),
        study(order_id, minutes=5),
        diagnostic_report(order_id, minutes=30, status="preliminary"),
        task(order_id, minutes=15, status="accepted", version=2),
        order(order_id, minutes=0, priority="stat"),
    )

    found = await timeline_of(sla_app, order_id)
    assert found is not None
    assert found.milestones == {
        "ordered": at(0),
        "images-available": at(5),
        "assigned": at(10),
        "accepted": at(15),
        "preliminary": at(30),
        "final": at(45),
    }
    assert list(found.milestones) == list(MILESTONES[:6])
    assert (found.priority, found.deadline, found.met) == ("stat", at(60), True)


async def test_a_task_version_heard_late_still_gives_the_earlier_assignment_time(
    sla_app: FastAPI,
) -> None:
    order_id = new_order_id()

    await recorded(
        sla_app,
        task(order_id, minutes=15, status="accepted", version=2),
        task(order_id, minutes=10),
    )

    found = await timeline_of(sla_app, order_id)
    assert found is not None
    assert found.milestones == {"assigned": at(10), "accepted": at(15)}


async def test_an_order_sla_never_heard_of_has_no_timeline(sla_app: FastAPI) -> None:
    assert await timeline_of(sla_app, new_order_id()) is None


# -- $turnaround -----------------------------------------------------------------------------


def parameters(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in body["parameter"] if p["name"] == name]


def parts(parameter: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(next(v for k, v in p.items() if k.startswith("value")) for p in parameter["part"])


async def test_turnaround_lists_milestones_in_order_with_intervals_and_the_deadline(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    order_id = new_order_id()
    await recorded(
        sla_app,
        diagnostic_report(order_id, minutes=45),
        order(order_id),
        task(order_id, minutes=10),
        study(order_id, minutes=5),
        task(order_id, minutes=15, status="in-progress", version=2),
        diagnostic_report(order_id, minutes=30, status="preliminary"),
    )

    response = await sla.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Parameters"
    assert parameters(body, "order")[0]["valueReference"] == {
        "reference": f"ServiceRequest/{order_id}"
    }
    assert parameters(body, "complete")[0]["valueBoolean"] is True
    assert parameters(body, "priority")[0]["valueCode"] == "stat"
    assert parameters(body, "deadline")[0]["valueInstant"] == format_instant(at(60))
    assert parameters(body, "met-deadline")[0]["valueBoolean"] is True
    assert [parts(p) for p in parameters(body, "milestone")] == [
        ("ordered", format_instant(at(0))),
        ("images-available", format_instant(at(5))),
        ("assigned", format_instant(at(10))),
        ("accepted", format_instant(at(15))),
        ("preliminary", format_instant(at(30))),
        ("final", format_instant(at(45))),
    ]
    assert [parts(p) for p in parameters(body, "interval")] == [
        ("ordered-to-assigned", 10.0),
        ("assigned-to-accepted", 5.0),
        ("images-to-preliminary", 25.0),
        ("images-to-final", 40.0),
        ("ordered-to-final", 45.0),
    ]


async def test_turnaround_of_an_order_in_progress_says_nothing_yet_of_the_deadline(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    order_id = new_order_id()
    await recorded(sla_app, order(order_id), task(order_id, minutes=3))

    body = (await sla.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})).json()

    assert parameters(body, "complete")[0]["valueBoolean"] is False
    assert parameters(body, "met-deadline") == []
    assert [parts(p) for p in parameters(body, "interval")] == [("ordered-to-assigned", 3.0)]


async def test_turnaround_of_an_unknown_order_is_not_found(sla: httpx.AsyncClient) -> None:
    response = await sla.get("/$turnaround", params={"order": f"ServiceRequest/{new_order_id()}"})

    assert response.status_code == 404, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "params", [{}, {"order": ""}, {"order": "Patient/p1"}, {"order": "ServiceRequest/"}]
)
async def test_turnaround_needs_an_order_reference(
    sla: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await sla.get("/$turnaround", params=params)

    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["order"]
