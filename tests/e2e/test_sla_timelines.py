"""sla across the real services on PostgreSQL, through the gateway: an order predicted to
miss its contract's deadline climbs the escalation ladder (alert, re-route to a reader
who finishes sooner, operations told), and an order's timeline comes out whole after sla
was down while it happened and after every event was delivered twice.

Timers as in docs/sla.md "Seeing it happen quickly": sla sweeps every second, with small
budget shares of a 15-minute STAT target counted from the order; assignment's own
sweeper is kept out of the way so that only sla's re-route moves the read.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.assignment.tests.roster_builders import sla_target
from shared.fhir.canonical import CANONICAL_BASE
from tests.e2e.loop import (
    created,
    facility,
    facility_privileges,
    milestones,
    move_task,
    parameter,
    place_order,
    primary_contract,
    radiologist,
    read_task,
    reading_role,
    replay_everything,
    report,
    turnaround,
    wait_until,
)
from tests.e2e.platform import E2EPlatform

SLA_EVENT_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/sla-event"


@pytest.fixture(scope="module")
def platform_process_env() -> dict[str, dict[str, str]]:
    return {
        "sla": {
            "SLA_SWEEP_SECONDS": "1",
            "SLA_ALERT_BUDGET_SHARE": "0.01",  # ~9 s into a 15-minute budget
            "SLA_REROUTE_BUDGET_SHARE": "0.02",  # ~18 s
            "SLA_OPERATIONS_BUDGET_SHARE": "0.04",  # ~36 s
        },
        "assignment": {"ASSIGNMENT_SWEEP_SECONDS": "3600"},
    }


@pytest.fixture(scope="module")
def site(platform: E2EPlatform) -> dict[str, str]:
    """A facility whose contract promises STAT reads within 15 minutes of the order (a CT
    read alone takes ~18), read by one radiologist; a second one has privileges there but
    does not read for the group yet."""
    with platform.client() as client:
        site = facility(client, "TX")
        contract = primary_contract(client, site, sla_target("stat", 15, clock="ordered-to-final"))
        busy = radiologist(client, "Busy", "TX")
        facility_privileges(client, busy, site)
        busy_role = reading_role(client, busy)
        free = radiologist(client, "Free", "TX")
        facility_privileges(client, free, site)
    return {
        "site": site,
        "contract": contract,
        "busy": busy,
        "busy_role": busy_role,
        "free": free,
    }


def _issues(client: httpx.Client, order_id: str) -> dict[str, dict[str, Any]]:
    """sla's DetectedIssues about the order, by their sla-event code."""
    found = created(
        client.get("/DetectedIssue", params={"implicated": f"ServiceRequest/{order_id}"})
    )
    return {
        coding["code"]: entry["resource"]
        for entry in found.get("entry") or []
        for coding in entry["resource"]["code"]["coding"]
        if coding["system"] == SLA_EVENT_SYSTEM
    }


@pytest.fixture(scope="module")
def late(platform: E2EPlatform, site: dict[str, str]) -> dict[str, Any]:
    """The busy radiologist is reading a routine CT when a STAT CT comes in for them;
    the second radiologist then joins the reading group."""
    with platform.client() as client:
        reading = place_order(client, site["site"], priority="routine")
        task = move_task(client, read_task(client, reading), "accepted")
        move_task(client, task, "in-progress")
        order_id = place_order(client, site["site"], priority="stat")
        queued = read_task(client, order_id)
        free_role = reading_role(client, site["free"])
    return {"order": order_id, "queued": queued, "free_role": free_role}


def test_a_late_stat_read_is_alerted_and_rerouted_to_a_sooner_reader(
    platform: E2EPlatform, site: dict[str, str], late: dict[str, Any]
) -> None:
    assert late["queued"]["owner"]["reference"] == site["busy_role"]
    with platform.client() as client:
        moved = wait_until(
            lambda: (
                (t := read_task(client, late["order"]))["owner"]["reference"] == late["free_role"]
                and t
            ),
            timeout=120,
            what="the read re-routed to the free radiologist",
        )
        issues = wait_until(
            lambda: (
                (found := _issues(client, late["order"])) and "breach-predicted" in found and found
            ),
            timeout=30,
            what="the breach-predicted DetectedIssue",
        )
    assert moved["id"] == late["queued"]["id"]
    assert moved["status"] == "requested"
    assert moved["businessStatus"]["coding"][0]["code"] == "re-routed"
    assert "predicted" in moved["businessStatus"]["text"]
    predicted = issues["breach-predicted"]
    assert predicted["implicated"] == [{"reference": f"ServiceRequest/{late['order']}"}]
    assert "past the deadline" in predicted["detail"]


def test_still_late_after_the_reroute_operations_are_told(
    platform: E2EPlatform, late: dict[str, Any]
) -> None:
    # The free reader needs ~20 minutes (acceptance and the CT read): still past 15.
    with platform.client() as client:
        issues = wait_until(
            lambda: (found := _issues(client, late["order"])) and "escalated" in found and found,
            timeout=120,
            what="the escalated DetectedIssue",
        )
        timeline = wait_until(
            lambda: turnaround(client, late["order"]), what="sla's timeline of the order"
        )
    assert set(issues) >= {"breach-predicted", "escalated"}
    assert "breached" not in issues
    assert (
        issues["escalated"]["identifiedDateTime"]
        >= issues["breach-predicted"]["identifiedDateTime"]
    )
    clock = {p["name"]: p for p in timeline["parameter"]}
    assert clock["clock"]["valueCode"] == "ordered-to-final"
    assert clock["target-minutes"]["valueDecimal"] == 15


def test_a_timeline_is_whole_after_sla_was_down_and_every_event_came_twice(
    platform: E2EPlatform, site: dict[str, str]
) -> None:
    local = platform.local
    with platform.client() as client:
        local.stop("sla")  # the events of this order happen while nobody at sla hears
        order_id = place_order(client, site["site"], priority="routine")
        task = move_task(client, read_task(client, order_id), "accepted")
        interpreter = radiologist_of(task, site)
        created(client.post("/DiagnosticReport", json=report(order_id, task["for"], interpreter)))
        local.start("sla")
        local.wait_ready(["sla", "gateway"], timeout=90)
        whole = _whole_timeline(client, order_id, ["ordered", "assigned", "accepted", "final"])
    replayed = sum(
        replay_everything(platform, "sla", publisher, topic)
        for publisher, topic in (
            ("intake", "order-registered"),
            ("assignment", "task-created"),
            ("assignment", "task-status-changed"),
            ("reporting", "report-final"),
        )
    )
    with platform.client() as client:
        again = turnaround(client, order_id)
    assert replayed >= 4
    assert again is not None
    assert list(milestones(again)) == list(milestones(whole))
    assert parameter(again, "milestone") == parameter(whole, "milestone")
    assert parameter(again, "interval") == parameter(whole, "interval")


def _whole_timeline(client: httpx.Client, order_id: str, expected: list[str]) -> dict[str, Any]:
    """The order's timeline once it holds exactly the `expected` milestones; deliveries
    refused while sla was down are retried with backoff, so this may take a while."""
    last: list[dict[str, Any] | None] = [None]

    def probe() -> dict[str, Any] | None:
        last[0] = turnaround(client, order_id)
        return last[0] if last[0] and list(milestones(last[0])) == expected else None

    try:
        return wait_until(probe, timeout=120, what="the order's whole timeline")
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen: {last[0]}") from None


def radiologist_of(task: dict[str, Any], site: dict[str, str]) -> str:
    """The Practitioner behind the Task's owning role (one of the site's two readers)."""
    return site["busy"] if task["owner"]["reference"] == site["busy_role"] else site["free"]
