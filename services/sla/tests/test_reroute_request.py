"""The predictor's re-route reaches assignment as a real request: sla's peer client posts
`Task/{id}/$reroute` to the assignment app (in process, on this test's database), which
moves the queued read to a free reader; the answer is recorded and operations are not
told."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.assignment.tests.routing_support import (
    add_reader,
    busy_reader_with_a_queued_read,
    owner,
    the_task,
)
from services.sla.prediction import Step
from services.sla.predictor import climb
from services.sla.tables import order_ladder
from services.sla.tests.builders import at, new_order_id
from services.sla.tests.ladder_support import Facts
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app


async def test_a_predicted_breach_moves_the_read_to_a_free_reader(
    sla_app: FastAPI, make_settings: Callable[..., ServiceSettings]
) -> None:
    async with (
        running_app("assignment", make_settings("assignment")) as assignment_app,
        client_for(assignment_app) as assignment,
    ):
        busy, queued = await busy_reader_with_a_queued_read(assignment_app, assignment)
        free, _ = await add_reader(assignment, family="Free")
        peers = sla_app.state.peers
        peers.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=assignment_app), headers=peers.client.headers
        )
        facts = Facts(order_id=new_order_id(), task=f"Task/{queued['id']}")

        taken = await climb(sla_app.state, [facts], now=at(45))

        assert [step for _, step in taken] == [Step.ALERT, Step.REROUTE]
        moved = await the_task(assignment, "order-2")
        assert owner(queued) == busy and owner(moved) == free
        assert "predicted to miss its deadline" in moved["businessStatus"]["text"]
    async with sla_app.state.database.transaction() as session:
        ladder = await session.execute(
            select(order_ladder.c.reroute_outcome).where(order_ladder.c.order_id == facts.order_id)
        )
        assert ladder.scalar_one() == "rerouted"
