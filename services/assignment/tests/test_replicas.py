"""Three replicas of assignment on one PostgreSQL, each with its own engine in memory,
taking a burst of orders -- every one delivered twice, to two different replicas at once,
as an at-least-once relay may -- never make two Tasks for one order and never give a
reader more open reads than their cap."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest

from services.assignment.consumers import assign_order
from services.assignment.tests.routing_support import (
    add_contract,
    add_reader,
    business_code,
    deliver,
    new_order,
    owner,
)
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app

ORDERS = 30
READERS = 4
CAP = 3


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_three_replicas_never_assign_an_order_twice_or_exceed_a_cap(
    make_settings: Callable[..., ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSIGNMENT_SWEEP_SECONDS", "3600")  # only the deliveries decide here
    settings = make_settings("assignment")
    async with (
        running_app("assignment", settings) as first,
        running_app("assignment", settings) as second,
        running_app("assignment", settings) as third,
        client_for(first) as client,
    ):
        await add_contract(client)
        readers = [
            (await add_reader(client, family=f"R{n}", max_open_tasks=CAP))[0]
            for n in range(READERS)
        ]
        replicas = [first, second, third]
        orders = [new_order(f"order-{n}") for n in range(ORDERS)]

        await asyncio.gather(
            *(
                deliver(replicas[(n + again) % 3], assign_order, order)
                for n, order in enumerate(orders)
                for again in (0, 1)
            )
        )

        response = await client.get("/Task", params={"_count": "200"})
        tasks = [e["resource"] for e in response.json()["entry"]]
    per_order = Counter(t["focus"]["reference"] for t in tasks)
    assert len(per_order) == ORDERS and set(per_order.values()) == {1}
    per_reader = Counter(owner(t) for t in tasks if owner(t))
    assert set(per_reader) <= set(readers)
    assert max(per_reader.values()) <= CAP
    assert sum(per_reader.values()) == READERS * CAP  # every free place was used
    waiting = [t for t in tasks if owner(t) is None]
    assert all(business_code(t) == "unassigned" for t in waiting)
    assert len(waiting) == ORDERS - READERS * CAP
