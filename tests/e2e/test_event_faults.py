"""Events survive what goes wrong in production: a subscriber that is down, a service
killed between its commit and the delivery, a consumer killed mid-stream, duplicate
deliveries, and changes that roll back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.events.topics import TOPIC_BASE
from tests.e2e.loop import (
    SECRET,
    created,
    facility,
    order_bundle,
    place_order,
    privileges,
    radiologist,
    replay_everything,
    subscribe,
    tasks_of,
    wait_until,
)
from tests.e2e.platform import E2EPlatform
from tests.support.subscriber import Subscriber


@pytest.fixture(scope="module")
def ehr() -> Iterator[Subscriber]:
    with Subscriber(SECRET) as subscriber:
        yield subscriber


@pytest.fixture(scope="module")
def site(platform: E2EPlatform, ehr: Subscriber) -> str:
    """A facility with one eligible radiologist, whose orders the EHR subscribes to."""
    with platform.client() as client:
        site = facility(client, "TX")
        privileges(client, radiologist(client, "Okafor", "TX"), site)
        subscribe(
            client, "order-registered", ehr.endpoint("/orders"), f"ServiceRequest?requester={site}"
        )
    ehr.wait_for(lambda seen: seen.events(type="handshake"), timeout=30)
    return site


def _order_events(ehr: Subscriber) -> list[tuple[int, str]]:
    """(event number, order id) of every order event received, in arrival order."""
    return [
        (number, resource["id"])
        for notice in ehr.events()
        for number, resource in zip(notice.event_numbers, notice.resources, strict=True)
    ]


def test_a_subscriber_down_then_back_gets_everything_in_order_without_gaps(
    platform: E2EPlatform, ehr: Subscriber, site: str
) -> None:
    with platform.client() as client:
        placed = [place_order(client, site) for _ in range(2)]
        ehr.wait_for(lambda seen: len(_order_events(seen)) == 2, timeout=30)
        ehr.down()
        placed += [place_order(client, site) for _ in range(4)]
        time.sleep(2)  # several refused deliveries, with backoff
        ehr.up()
    ehr.wait_for(lambda seen: len(_order_events(seen)) >= 6, timeout=60)
    received = _order_events(ehr)
    assert [number for number, _ in received] == [1, 2, 3, 4, 5, 6]
    assert [order for _, order in received] == placed


def test_a_rolled_back_change_sends_nothing(
    platform: E2EPlatform, ehr: Subscriber, site: str
) -> None:
    refused = order_bundle(site)
    refused["entry"][0]["resource"]["gender"] = "not-a-gender"
    before = len(_order_events(ehr))
    with platform.client() as client:
        answer = client.post("/", json=refused)
        assert answer.status_code in (400, 422), answer.text
        after = place_order(client, site)
    ehr.wait_for(lambda seen: len(_order_events(seen)) > before, timeout=30)
    received = _order_events(ehr)[before:]
    assert received == [(before + 1, after)]


def test_an_event_committed_before_a_crash_is_delivered_after_restart(
    platform: E2EPlatform, site: str
) -> None:
    local = platform.local
    local.process_env.setdefault("intake", {})["EVENTS_ENABLED"] = "false"
    local.restart("intake")  # serves the API, delivers nothing: the crash window, held open
    local.wait_ready(["intake", "gateway"], timeout=60)
    with platform.client() as client:
        order_id = place_order(client, site)
        time.sleep(1)
        assert tasks_of(client, order_id) == []
        local.kill("intake")
        del local.process_env["intake"]["EVENTS_ENABLED"]
        local.start("intake")
        local.wait_ready(["intake", "gateway"], timeout=60)
        tasks = wait_until(lambda: tasks_of(client, order_id), timeout=60, what="the Task")
    assert len(tasks) == 1


def test_a_consumer_killed_mid_stream_makes_exactly_one_task_per_order(
    platform: E2EPlatform, site: str
) -> None:
    placed: list[str] = []

    def place_many() -> None:
        with platform.client() as client:
            placed.extend(place_order(client, site) for _ in range(12))

    with platform.client() as client:
        sender = threading.Thread(target=place_many)
        sender.start()
        wait_until(lambda: placed and tasks_of(client, placed[0]), what="the first Task")
        platform.local.kill("assignment")
        sender.join(timeout=120)
        platform.local.start("assignment")
        platform.local.wait_ready(["assignment", "gateway"], timeout=60)
        for order_id in placed:
            wait_until(lambda o=order_id: tasks_of(client, o), timeout=60, what="every Task")
        counts = {order_id: len(tasks_of(client, order_id)) for order_id in placed}
    assert len(placed) == 12
    assert set(counts.values()) == {1}


def test_every_internal_consumer_is_harmless_under_duplicate_delivery(
    platform: E2EPlatform, site: str
) -> None:
    with platform.client() as client:
        order_id = place_order(client, site)
        wait_until(lambda: tasks_of(client, order_id), what="the Task")
        wait_until(  # sla has heard of the order and of its Task
            lambda: (
                '"assigned"'
                in client.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"}).text
            ),
            # After the module's kills, a subscription whose deliveries failed meanwhile
            # retries with jittered exponential backoff: seen to pass 30 s on a loaded machine.
            timeout=90,
            what="sla's timeline of the order",
        )
        before = _snapshot(client, order_id)
    replayed = 0
    for consumer, publisher, topic in _INTERNAL:
        replayed += replay_everything(platform, consumer, publisher, topic)
    with platform.client() as client:
        assert _snapshot(client, order_id) == before
    assert replayed > 0


# (consumer, publisher, topic) of the internal subscriptions exercised here.
_INTERNAL = (
    ("assignment", "intake", "order-registered"),
    ("sla", "intake", "order-registered"),
    ("sla", "assignment", "task-created"),
)


def _snapshot(client: httpx.Client, order_id: str) -> dict[str, Any]:
    tasks = created(client.get("/Task", params={"_count": "200"}))
    turnaround = client.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})
    return {
        "tasks": sorted(
            (e["resource"]["id"], e["resource"]["meta"]["versionId"])
            for e in tasks.get("entry", [])
        ),
        "turnaround": turnaround.json(),
    }


def test_orders_accepted_before_assignment_subscribed_still_get_their_task(
    platform: E2EPlatform, site: str
) -> None:
    local = platform.local
    order_endpoint = f"{local.origin('assignment')}/events/order-registered"
    local.stop("assignment")
    with platform.client("intake") as intake:
        found = created(
            intake.get(
                "/Subscription",
                params={"criteria": f"{TOPIC_BASE}/order-registered", "url": order_endpoint},
            )
        )
        for entry in found["entry"]:  # as if assignment had never subscribed
            assert intake.delete(f"/Subscription/{entry['resource']['id']}").status_code == 204
    with platform.client() as client:
        order_id = place_order(client, site)  # no subscriber: no event for assignment
        local.start("assignment")
        local.wait_ready(["assignment", "gateway"], timeout=60)
        tasks = wait_until(lambda: tasks_of(client, order_id), timeout=60, what="the Task")
    assert len(tasks) == 1
