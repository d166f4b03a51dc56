"""A report's whole life and the critical-result loop, across the real services on
PostgreSQL, through the gateway: the radiologist accepts the read, holds and resumes it,
writes a preliminary, then the signed final, then an amendment -- each version kept,
signed, rendered, sent to the EHR and timed by sla; and two critical results, one
acknowledged by the ordering facility and one left to escalate.

The critical-result worker runs every second here, with a 15-second wait per step, so
the whole ladder (facility, then operations) passes within a minute.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from hl7apy.consts import VALIDATION_LEVEL  # type: ignore[import-untyped]
from hl7apy.parser import parse_message  # type: ignore[import-untyped]

from services.intake.tests.builders import study
from services.reporting.critical import ACR_CATEGORY_SYSTEM, ACTIONABLE_FINDING_EXTENSION
from shared.follow_up import FOLLOW_UP_STATUS_SYSTEM
from tests.e2e.loop import (
    NPI,
    SECRET,
    created,
    milestones,
    move_task,
    place_order,
    privileges,
    radiologist,
    read_task,
    report,
    subscribe,
    tasks_of,
    turnaround,
    value,
    wait_until,
)
from tests.e2e.platform import E2EPlatform
from tests.support.subscriber import Received, Subscriber

OPERATIONS = "Organization/e2e-operations"
MERCY_NPI = "1003000126"  # the development client ehr-mercy-dallas is this facility's EHR
ACK_MINUTES = 0.25  # 15 s per step of the critical-result ladder
REPORT_TOPICS = ("report-preliminary", "report-final", "report-amended")
CRITICAL_TOPICS = ("critical-result", "critical-result-acknowledged", "critical-result-escalated")


@pytest.fixture(scope="module")
def platform_process_env() -> dict[str, dict[str, str]]:
    return {
        "reporting": {
            "CRITICAL_SWEEP_SECONDS": "1",
            "CRITICAL_ACK_MINUTES_CATEGORY_1": str(ACK_MINUTES),
            "OPERATIONS_ORGANIZATION": OPERATIONS,
        }
    }


@pytest.fixture(scope="module")
def ehr(platform: E2EPlatform) -> Iterator[Subscriber]:
    """The EHR, subscribed to every report and critical-result topic (one path each)."""
    with Subscriber(SECRET) as subscriber, platform.client() as client:
        for topic in (*REPORT_TOPICS, *CRITICAL_TOPICS):
            subscribe(client, topic, subscriber.endpoint(f"/{topic}"))
        subscriber.wait_for(lambda seen: len(seen.events(type="handshake")) >= 6, timeout=60)
        yield subscriber


@pytest.fixture(scope="module")
def roster(platform: E2EPlatform) -> dict[str, str]:
    """A facility -- the one the development client "ehr-mercy-dallas" is the EHR of --
    and its one eligible radiologist (their reading role owns the reads)."""
    with platform.client() as client:
        mercy = {
            "resourceType": "Organization",
            "name": "Mercy General Hospital",
            "identifier": [{"system": NPI, "value": MERCY_NPI}],
            "address": [{"state": "TX"}],
        }
        site = f"Organization/{created(client.post('/Organization', json=mercy))['id']}"
        reader = radiologist(client, "Okafor", "TX")
        role = privileges(client, reader, site)
    return {"site": site, "reader": reader, "role": role}


def _notified(seen: Received, topic: str) -> list[dict[str, Any]]:
    return [r for n in seen.events() if n.path == f"/{topic}" for r in n.resources]


def _turnaround(client: httpx.Client, order_id: str, *needed: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = turnaround(client, order_id)
        return found if found and set(needed) <= set(milestones(found)) else None

    return wait_until(probe, timeout=90, what=f"sla's timeline with {', '.join(needed)}")


# -- order -> assignment -> preliminary -> final -> amended ------------------------------


@pytest.fixture(scope="module")
def lifecycle(platform: E2EPlatform, ehr: Subscriber, roster: dict[str, str]) -> dict[str, Any]:
    """One order read through: accepted, started, held and resumed, then the preliminary,
    final and amended versions of its report; every version as the writer got it back."""
    with platform.client() as client:
        order_id = place_order(client, roster["site"])
        task = read_task(client, order_id)
        assert task["owner"]["reference"] == roster["role"]
        images = study(
            f"ServiceRequest/{order_id}",
            task["for"]["reference"],
            uid=f"1.2.840.113619.2.55.3.{uuid4().int % 10**12}",
            started=datetime.now(UTC).isoformat(),
        )
        imaging = created(client.post("/ImagingStudy", json=images))
        task = move_task(client, task, "accepted")
        task = move_task(client, task, "in-progress")
        task = move_task(client, task, "on-hold")
        time.sleep(2)  # a hold sla must take out of the clock
        task = move_task(client, task, "in-progress")

        draft = report(order_id, task["for"], roster["reader"])
        draft["status"] = "preliminary"
        draft["imagingStudy"] = [{"reference": f"ImagingStudy/{imaging['id']}"}]
        preliminary = created(client.post("/DiagnosticReport", json=draft))
        final = created(
            client.put(
                f"/DiagnosticReport/{preliminary['id']}", json={**preliminary, "status": "final"}
            )
        )
        amendment = {
            **final,
            "status": "amended",
            "conclusion": "Small subdural collection on the left; no mass effect.",
        }
        amended = created(client.put(f"/DiagnosticReport/{final['id']}", json=amendment))
    return {
        "order": order_id,
        "task": task,
        "versions": {"preliminary": preliminary, "final": final, "amended": amended},
    }


def test_every_version_of_the_report_is_kept(
    platform: E2EPlatform, lifecycle: dict[str, Any]
) -> None:
    versions = lifecycle["versions"]
    report_id = versions["preliminary"]["id"]
    assert {v["id"] for v in versions.values()} == {report_id}
    with platform.client() as client:
        history = created(client.get(f"/DiagnosticReport/{report_id}/_history"))
        kept = {
            e["resource"]["meta"]["versionId"]: e["resource"]["status"] for e in history["entry"]
        }
        assert kept == {v["meta"]["versionId"]: s for s, v in versions.items()}
        final_vid = versions["final"]["meta"]["versionId"]
        old = created(client.get(f"/DiagnosticReport/{report_id}/_history/{final_vid}"))
    assert old["status"] == "final"
    assert old["conclusion"] == "No acute intracranial abnormality."


def test_final_and_amended_versions_are_signed_and_verify(
    platform: E2EPlatform, lifecycle: dict[str, Any]
) -> None:
    versions = lifecycle["versions"]
    report_id = versions["final"]["id"]
    with platform.client() as client:
        provenances = created(
            client.get("/Provenance", params={"target": f"DiagnosticReport/{report_id}"})
        )
        current = created(client.get(f"/DiagnosticReport/{report_id}/$verify"))
        checks = {
            status: created(
                client.get(
                    f"/DiagnosticReport/{report_id}/_history/{v['meta']['versionId']}/$verify"
                )
            )
            for status, v in versions.items()
        }
    targets = sorted(
        e["resource"]["target"][0]["reference"] for e in provenances.get("entry") or []
    )
    assert targets == sorted(
        f"DiagnosticReport/{report_id}/_history/{versions[s]['meta']['versionId']}"
        for s in ("final", "amended")
    )
    assert value(current, "valid") is True
    assert value(checks["final"], "valid") is True
    assert value(checks["amended"], "valid") is True
    assert value(checks["preliminary"], "valid") is False  # a preliminary is not signed
    assert value(checks["preliminary"], "reason")


def test_each_version_carries_its_rendered_pdf(lifecycle: dict[str, Any]) -> None:
    for status, version in lifecycle["versions"].items():
        pdfs = [a for a in version["presentedForm"] if a["contentType"] == "application/pdf"]
        assert len(pdfs) == 1, status
        assert base64.b64decode(pdfs[0]["data"]).startswith(b"%PDF-"), status
        assert pdfs[0]["creation"] == version["issued"], status


def test_the_final_report_is_an_oru_r01_for_hl7_v2_receivers(
    platform: E2EPlatform, lifecycle: dict[str, Any]
) -> None:
    final = lifecycle["versions"]["final"]
    with platform.client() as client:
        answer = client.get(
            f"/DiagnosticReport/{final['id']}/_history/{final['meta']['versionId']}/$hl7v2"
        )
        preliminary = lifecycle["versions"]["preliminary"]
        refused = client.get(
            f"/DiagnosticReport/{preliminary['id']}/_history/"
            f"{preliminary['meta']['versionId']}/$hl7v2"
        )
    assert answer.status_code == 200, answer.text
    message = parse_message(answer.text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert message.validate()
    assert message.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    assert message.msh.msh_12.to_er7() == "2.5.1"
    order = message.oru_r01_patient_result.oru_r01_order_observation
    assert order.obr.obr_25.to_er7() == "F"
    texts = [group.obx.obx_5.to_er7() for group in order.oru_r01_observation]
    assert "No acute intracranial abnormality." in texts
    assert refused.status_code == 422, refused.text


def test_the_ehr_hears_of_each_version(ehr: Subscriber, lifecycle: dict[str, Any]) -> None:
    report_id = lifecycle["versions"]["final"]["id"]

    def heard(seen: Received) -> dict[str, list[str]] | None:
        statuses = {
            topic: [r["status"] for r in _notified(seen, topic) if r["id"] == report_id]
            for topic in REPORT_TOPICS
        }
        return statuses if all(statuses.values()) else None

    statuses = ehr.wait_for(heard, timeout=60)
    assert statuses == {
        "report-preliminary": ["preliminary"],
        "report-final": ["final"],
        "report-amended": ["amended"],
    }


def test_the_final_report_completes_the_read_task(
    platform: E2EPlatform, lifecycle: dict[str, Any]
) -> None:
    report_id = lifecycle["versions"]["final"]["id"]
    with platform.client() as client:
        done = wait_until(
            lambda: next(
                (t for t in tasks_of(client, lifecycle["order"]) if t["status"] == "completed"),
                None,
            ),
            timeout=60,
            what="the read Task completed",
        )
    assert done["id"] == lifecycle["task"]["id"]
    assert done["output"][0]["valueReference"]["reference"] == f"DiagnosticReport/{report_id}"


def test_sla_times_the_read_with_its_hold_and_counts_it(
    platform: E2EPlatform, lifecycle: dict[str, Any]
) -> None:
    with platform.client() as client:
        timeline = _turnaround(client, lifecycle["order"], "images-available", "final")
        compliance = created(client.get("/$compliance", params={"by": "priority"}))
    marked = milestones(timeline)
    read = ["ordered", "assigned", "accepted", "preliminary", "final"]
    assert list(marked) == [*read[:1], "images-available", *read[1:]]
    times = [datetime.fromisoformat(marked[m]) for m in read]
    assert times == sorted(times)
    assert marked["ordered"] <= marked["images-available"] <= marked["preliminary"]
    assert value(timeline, "paused-minutes") > 0
    assert value(timeline, "on-hold") is False
    assert value(timeline, "complete") is True
    assert value(timeline, "met-deadline") is True
    assert compliance["resourceType"] == "MeasureReport"
    populations = {
        p["code"]["coding"][0]["code"]: p["count"] for p in compliance["group"][0]["population"]
    }
    assert populations["initial-population"] >= 1
    assert populations["numerator"] >= 1


# -- critical results: one acknowledged, one left to escalate ----------------------------


def _critical_report(order_id: str, task: dict[str, Any], reader: str) -> dict[str, Any]:
    flagged = report(order_id, task["for"], reader)
    flagged["conclusion"] = "Acute subdural haematoma with midline shift."
    flagged["extension"] = [
        {
            "url": ACTIONABLE_FINDING_EXTENSION,
            "valueCoding": {"system": ACR_CATEGORY_SYSTEM, "code": "1"},
        }
    ]
    return flagged


def _follow_up(client: httpx.Client, communication_id: str) -> dict[str, Any] | None:
    found = created(client.get("/Task", params={"focus": f"Communication/{communication_id}"}))
    entries = found.get("entry") or []
    return entries[0]["resource"] if entries else None


def _status_code(task: dict[str, Any]) -> str:
    return next(
        c["code"]
        for c in task["businessStatus"]["coding"]
        if c["system"] == FOLLOW_UP_STATUS_SYSTEM
    )


@pytest.fixture(scope="module")
def critical(
    platform: E2EPlatform, ehr: Subscriber, roster: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Two category 1 results of orders Mercy's EHR placed; Mercy acknowledges the first
    as soon as it hears of it and leaves the second unanswered. The opening Communication
    of each, by name."""
    reports: dict[str, str] = {}
    orders: dict[str, str] = {}
    with platform.client() as client, platform.client_as("ehr-mercy-dallas") as mercy:
        for name in ("acknowledged", "silent"):
            order_id = place_order(mercy, roster["site"])
            task = move_task(client, read_task(client, order_id), "accepted")
            flagged = _critical_report(order_id, task, roster["reader"])
            reports[name] = created(client.post("/DiagnosticReport", json=flagged))["id"]
            orders[name] = order_id

        def opened(seen: Received) -> dict[str, dict[str, Any]] | None:
            by_report = {
                c["basedOn"][0]["reference"].split("/")[1]: c
                for c in _notified(seen, "critical-result")
            }
            found = {name: by_report.get(report_id) for name, report_id in reports.items()}
            return found if all(found.values()) else None  # type: ignore[return-value]

        communications: dict[str, dict[str, Any]] = ehr.wait_for(opened, timeout=60)
        opening = communications["acknowledged"]
        wait_until(lambda: _follow_up(client, opening["id"]), timeout=60, what="the follow-up Task")
        current = created(mercy.get(f"/Communication/{opening['id']}"))
        acknowledgement = {
            **current,
            "status": "completed",
            "received": datetime.now(UTC).isoformat(),
            "note": [{"text": "Taken by the ED attending"}],
        }
        acknowledged = created(mercy.put(f"/Communication/{opening['id']}", json=acknowledgement))
    return {
        "acknowledged": {"communication": acknowledged, "order": orders["acknowledged"]},
        "silent": {"communication": communications["silent"], "order": orders["silent"]},
    }


def test_a_critical_result_reaches_the_ehr_with_its_deadline(
    critical: dict[str, dict[str, Any]], roster: dict[str, str]
) -> None:
    for loop in critical.values():
        communication = loop["communication"]
        assert communication["priority"] == "stat"
        assert communication["sender"]["reference"] == roster["reader"]
        urls = {e["url"] for e in communication["extension"]}
        assert ACTIONABLE_FINDING_EXTENSION in urls
    assert critical["silent"]["communication"]["status"] == "in-progress"


def test_an_acknowledged_result_completes_its_follow_up_and_is_notified(
    platform: E2EPlatform, ehr: Subscriber, critical: dict[str, dict[str, Any]]
) -> None:
    opening = critical["acknowledged"]["communication"]
    assert opening["status"] == "completed"
    heard = ehr.wait_for(
        lambda seen: [
            c for c in _notified(seen, "critical-result-acknowledged") if c["id"] == opening["id"]
        ],
        timeout=60,
    )
    assert heard[0]["status"] == "completed"
    with platform.client() as client:
        task = wait_until(
            lambda: (t := _follow_up(client, opening["id"])) and t["status"] == "completed" and t,
            timeout=60,
            what="the follow-up Task completed",
        )
        timeline = _turnaround(
            client, critical["acknowledged"]["order"], "critical-communicated", "acknowledged"
        )
    assert _status_code(task) == "acknowledged"
    assert task["output"][0]["valueReference"]["reference"] == f"Communication/{opening['id']}"
    marked = milestones(timeline)
    assert marked["critical-communicated"] <= marked["acknowledged"]
    escalations = [
        c
        for c in _notified(ehr, "critical-result-escalated")
        if c["partOf"][0]["reference"] == f"Communication/{opening['id']}"
    ]
    assert escalations == []  # acknowledged within its first wait


def test_a_silent_result_escalates_to_the_facility_then_operations(
    platform: E2EPlatform,
    ehr: Subscriber,
    critical: dict[str, dict[str, Any]],
    roster: dict[str, str],
) -> None:
    opening = critical["silent"]["communication"]

    def steps(seen: Received) -> list[dict[str, Any]] | None:
        found = [
            c
            for c in _notified(seen, "critical-result-escalated")
            if c["partOf"][0]["reference"] == f"Communication/{opening['id']}"
        ]
        return found if len(found) >= 2 else None

    escalated = ehr.wait_for(steps, timeout=120)
    recipients = [c["recipient"][0]["reference"] for c in escalated]
    assert recipients == [roster["site"], OPERATIONS]  # the ladder is bounded
    with platform.client() as client:
        task = wait_until(
            lambda: (
                (t := _follow_up(client, opening["id"]))
                and _status_code(t) == "unacknowledged"
                and t
            ),
            timeout=90,
            what="the follow-up Task unacknowledged",
        )
        still = created(client.get(f"/Communication/{opening['id']}"))
    assert task["status"] != "completed"
    assert task["owner"]["reference"] == OPERATIONS
    assert still["status"] == "in-progress"
