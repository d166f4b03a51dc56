"""The escalation ladder as the predictor climbs it, on the real sla app and database with
a controlled clock: alert, then re-route (asked of assignment, outside any transaction),
then operations -- each once per order, whichever replica sweeps; at once to operations
when the re-route finds nobody; a breach as soon as the deadline passes; nothing while the
clock is on hold. Assignment is a fake at the peer level here (its real `$reroute` is in
test_reroute_request.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.sla.prediction import Step
from services.sla.predictor import climb, sweep
from services.sla.tests.builders import at, new_order_id, order, task
from services.sla.tests.ladder_support import Facts, FakeAssignment
from services.sla.timeline import record
from shared.settings import ServiceSettings
from tests.fixtures import running_app


async def _issue_codes(sla: httpx.AsyncClient, order_id: str) -> list[str]:
    response = await sla.get("/DetectedIssue", params={"implicated": f"ServiceRequest/{order_id}"})
    assert response.status_code == 200, response.text
    issues = [e["resource"] for e in response.json().get("entry") or []]
    return sorted(i["code"]["coding"][0]["code"] for i in issues)


def _assignment(app: FastAPI, monkeypatch: pytest.MonkeyPatch, **answer: Any) -> FakeAssignment:
    fake = FakeAssignment(**answer)
    monkeypatch.setattr(app.state.peers, "post", fake.post)
    return fake


async def test_the_ladder_alerts_then_reroutes_then_tells_operations_then_records_the_breach(
    sla_app: FastAPI,
    sla: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assignment = _assignment(sla_app, monkeypatch, rerouted=True)
    facts = Facts(order_id=new_order_id(), target=60.0)  # a STAT CT nobody accepted yet

    assert await climb(sla_app.state, [facts], now=at(29)) == []
    assert await climb(sla_app.state, [facts], now=at(45)) == [
        (facts.order_id, Step.ALERT),
        (facts.order_id, Step.REROUTE),
    ]
    ((path, body),) = assignment.asked
    assert path == "Task/read-1/$reroute"
    assert body["parameter"][0]["name"] == "reason"
    assert await _issue_codes(sla, facts.order_id) == ["breach-predicted"]
    assert await climb(sla_app.state, [facts], now=at(46)) == []  # never twice

    with caplog.at_level(logging.WARNING, logger="teleradiology.sla"):
        assert await climb(sla_app.state, [facts], now=at(55)) == [(facts.order_id, Step.ESCALATE)]
    (line,) = [r for r in caplog.records if r.getMessage() == "sla escalated to operations"]
    assert line.order == facts.order_id and line.reroute == "rerouted"  # type: ignore[attr-defined]
    assert await climb(sla_app.state, [facts], now=at(61)) == [(facts.order_id, Step.BREACHED)]
    assert await climb(sla_app.state, [facts], now=at(70)) == []
    assert await _issue_codes(sla, facts.order_id) == ["breach-predicted", "breached", "escalated"]
    assert len(assignment.asked) == 1


async def test_a_reroute_that_finds_nobody_sooner_tells_operations_at_once(
    sla_app: FastAPI, sla: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _assignment(sla_app, monkeypatch, rerouted=False)
    facts = Facts(order_id=new_order_id())

    steps = await climb(sla_app.state, [facts], now=at(45))

    assert [step for _, step in steps] == [Step.ALERT, Step.REROUTE, Step.ESCALATE]
    assert await _issue_codes(sla, facts.order_id) == ["breach-predicted", "escalated"]


async def test_an_unanswered_reroute_is_asked_again_once_its_claim_lapses(
    sla_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assignment = _assignment(sla_app, monkeypatch, down=True)
    facts = Facts(order_id=new_order_id())

    await climb(sla_app.state, [facts], now=at(45))
    assert await climb(sla_app.state, [facts], now=at(46)) == []  # claimed, within its lease
    assignment.down = False
    assert await climb(sla_app.state, [facts], now=at(48)) == [(facts.order_id, Step.REROUTE)]
    assert len(assignment.asked) == 2


async def test_nothing_is_raised_while_the_clock_is_on_hold(
    sla_app: FastAPI, sla: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assignment = _assignment(sla_app, monkeypatch)
    held = Facts(order_id=new_order_id(), on_hold=True)

    assert await climb(sla_app.state, [held], now=at(59)) == []
    assert assignment.asked == [] and await _issue_codes(sla, held.order_id) == []


async def test_replicas_sweeping_together_never_take_a_step_twice(
    sla_app: FastAPI,
    sla: httpx.AsyncClient,
    make_settings: Callable[..., ServiceSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = [Facts(order_id=new_order_id(), task=f"Task/read-{i}") for i in range(4)]
    async with running_app("sla", make_settings("sla")) as other:
        one = _assignment(sla_app, monkeypatch, rerouted=False, delay=0.05)
        two = _assignment(other, monkeypatch, rerouted=False, delay=0.05)
        first, second = await asyncio.gather(
            climb(sla_app.state, orders, now=at(45)), climb(other.state, orders, now=at(45))
        )

    taken = sorted(first + second)
    expected = sorted((f.order_id, s) for f in orders for s in Step if s is not Step.BREACHED)
    assert taken == expected  # every step of every order, once between the two
    assert sorted(path for path, _ in one.asked + two.asked) == sorted(
        f"{f.task}/$reroute" for f in orders
    )
    for facts in orders:
        assert await _issue_codes(sla, facts.order_id) == ["breach-predicted", "escalated"]


async def test_a_sweep_predicts_from_what_sla_heard_and_asks_for_the_read_task(
    sla_app: FastAPI, sla: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assignment = _assignment(sla_app, monkeypatch, rerouted=True)
    order_id = new_order_id()
    async with sla_app.state.database.transaction() as session:
        await record(session, order(order_id, minutes=0))  # STAT, no contract: the Task's
        await record(session, task(order_id, minutes=1, deadline=60))  # deadline counts

    assert await sweep(sla_app.state, now=at(20)) == []
    taken = await sweep(sla_app.state, now=at(46))

    assert taken == [(order_id, Step.ALERT), (order_id, Step.REROUTE)]
    assert [path for path, _ in assignment.asked] == [f"Task/task-{order_id}/$reroute"]
    assert await _issue_codes(sla, order_id) == ["breach-predicted"]


async def test_an_order_whose_read_was_cancelled_climbs_no_ladder(
    sla_app: FastAPI, sla: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assignment = _assignment(sla_app, monkeypatch)
    order_id = new_order_id()
    async with sla_app.state.database.transaction() as session:
        await record(session, order(order_id, minutes=0))
        await record(session, task(order_id, minutes=1, deadline=60))
        await record(session, task(order_id, minutes=5, status="cancelled", version=2))

    assert await sweep(sla_app.state, now=at(70)) == []
    assert assignment.asked == [] and await _issue_codes(sla, order_id) == []
