"""`$compliance`, `$open-orders`, `/metrics` and `/dashboard` over timelines sla recorded:
the numbers a contract manager and an operator rely on, each facility seeing only its own,
every answer audited, no patient anywhere.

sla's own tables are not emptied between PostgreSQL tests, so each test's reads use a
facility and order ids of their own, and ranges of their own where totals are asserted.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from services.sla.tests.timelines import Read, recorded
from shared.fhir.service import format_instant, now_utc
from tests.support.audit import audit_events, objects, query
from tests.support.tenants import as_caller, facility_ehr

DIMENSION = "https://teleradiology.example.org/fhir/CodeSystem/sla-report-dimension"


def _facility() -> str:
    return f"Organization/fac-{uuid4().hex[:10]}"


def _moment() -> datetime:
    """A past minute no other test uses (for ranges whose totals are asserted)."""
    day = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(20_000))
    return day.replace(hour=6)


def _reads(facility: str, start: datetime) -> list[Read]:
    """Five closed reads at `facility`: stat 20, 50 (late), 40; routine 100, 300 (late)."""

    def read(priority: str, budget: float, took: float, hours: float) -> Read:
        return Read(
            f"order-{uuid4().hex[:12]}",
            start + timedelta(hours=hours),
            budget,
            took,
            facility=facility,
            priority=priority,
        )

    return [
        read("stat", 30, 20, 0),
        read("stat", 30, 50, 1),
        read("stat", 60, 40, 26),
        read("routine", 240, 100, 2),
        read("routine", 240, 300, 27),
    ]


def _range(start: datetime, days: int = 2) -> dict[str, str]:
    return {"start": format_instant(start), "end": format_instant(start + timedelta(days=days))}


def _counts(node: dict) -> dict[str, int]:
    return {p["code"]["coding"][0]["code"]: p["count"] for p in node["population"]}


async def test_compliance_by_priority_is_a_summary_measure_report_with_percentiles(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    start, facility = _moment(), _facility()
    await recorded(sla_app, *_reads(facility, start))

    response = await sla.get("/$compliance", params={**_range(start), "by": "priority"})

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["resourceType"], report["type"]) == ("MeasureReport", "summary")
    group = report["group"][0]
    assert _counts(group) == {"initial-population": 5, "denominator": 5, "numerator": 3}
    assert group["measureScore"]["value"] == pytest.approx(0.6)
    stratifier = group["stratifier"][0]
    assert stratifier["code"][0]["coding"][0] == {"system": DIMENSION, "code": "priority"}
    by_priority = {s["component"][0]["value"]["text"]: s for s in stratifier["stratum"]}
    assert _counts(by_priority["stat"]) == {
        "initial-population": 3,
        "denominator": 3,
        "numerator": 2,
    }
    percentiles = {
        e["extension"][0]["valueInteger"]: e["extension"][1]["valueQuantity"]["value"]
        for e in by_priority["stat"]["extension"]
    }
    assert percentiles == {50: 40.0, 90: 50.0, 95: 50.0}


async def test_compliance_by_facility_and_day_as_table_and_csv(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    start, facility = _moment(), _facility()
    await recorded(sla_app, *_reads(facility, start))
    params = {**_range(start), "by": "facility", "period": "day"}

    table = (await sla.get("/$compliance", params={**params, "layout": "table"})).json()
    text = (await sla.get("/$compliance", params=params, headers={"Accept": "text/csv"})).text

    day0 = start.replace(hour=0).isoformat()
    day1 = (start.replace(hour=0) + timedelta(days=1)).isoformat()
    rows = [
        (r["facility"], r["period"], r["closed"], r["met"], r["breached"]) for r in table["rows"]
    ]
    assert rows == [(facility, day0, 3, 2, 1), (facility, day1, 2, 1, 1)]
    assert table["overall"]["p50"] == 50.0
    lines = [
        (r["facility"], r["period"], r["met"], r["p95"]) for r in csv.DictReader(io.StringIO(text))
    ]
    assert lines == [(facility, day0, "2", "100.0"), (facility, day1, "1", "300.0")]


def _audit_since() -> tuple[str, str]:
    """A search criterion for the AuditEvents recorded from now on (on PostgreSQL the audit
    log is the whole session's: the oldest events would crowd out this test's)."""
    return ("date", f"ge{format_instant(now_utc() - timedelta(seconds=1))}")


async def test_a_facility_sees_only_its_own_numbers(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    start, mine, theirs = _moment(), _facility(), _facility()
    since = _audit_since()
    await recorded(sla_app, *_reads(mine, start), *_reads(theirs, start))

    async with as_caller(sla_app, facility_ehr(mine)) as ehr:
        report = (await ehr.get("/$compliance", params={**_range(start), "by": "facility"})).json()
    everyone = (await sla.get("/$compliance", params={**_range(start), "by": "facility"})).json()

    strata = report["group"][0]["stratifier"][0]["stratum"]
    assert [s["component"][0]["value"]["text"] for s in strata] == [mine]
    assert _counts(report["group"][0])["initial-population"] == 5
    assert _counts(everyone["group"][0])["initial-population"] == 10
    asked = [query(e) or "" for e in await audit_events(sla_app, since)]
    ours = [q for q in asked if q.startswith("$compliance?") and start.date().isoformat() in q]
    assert len(ours) == 2  # the facility's request and the operator's, each with its range


async def test_malformed_report_parameters_are_a_400_naming_each(sla: httpx.AsyncClient) -> None:
    response = await sla.get(
        "/$compliance", params={"start": "yesterday", "by": "facility,patient", "period": "hour"}
    )

    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert set(issue["expression"]) == {"start", "by", "period"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start": "2024-05-02", "end": "2024-05-01"}, {"start", "end"}),
        ({"start": "2020-01-01", "end": "2024-01-01"}, {"start", "end"}),
        ({"end": "0001-01-01"}, {"end"}),
        ({"by": "priority,priority"}, {"by"}),
    ],
    ids=["end-before-start", "over-400-days", "end-in-year-one", "dimension-twice"],
)
async def test_an_impossible_range_or_repeated_dimension_is_a_400(
    sla: httpx.AsyncClient, params: dict[str, str], named: set[str]
) -> None:
    response = await sla.get("/$compliance", params=params)

    assert response.status_code == 400
    assert set(response.json()["issue"][0]["expression"]) == named


async def test_a_report_in_a_format_other_than_json_or_csv_is_a_406(
    sla: httpx.AsyncClient,
) -> None:
    response = await sla.get("/$compliance", params={"_format": "xml"})

    assert response.status_code == 406
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_open_orders_come_by_time_left_in_bands_and_are_audited(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    now, facility, since = now_utc(), _facility(), _audit_since()
    reads = [
        Read(f"late-{uuid4().hex[:8]}", now - timedelta(minutes=90), 60, facility=facility),
        Read(f"soon-{uuid4().hex[:8]}", now - timedelta(minutes=50), 60, facility=facility),
        Read(f"calm-{uuid4().hex[:8]}", now - timedelta(minutes=10), 600, facility=facility),
        Read(f"done-{uuid4().hex[:8]}", now - timedelta(minutes=30), 60, 20, facility=facility),
    ]
    await recorded(sla_app, *reads)

    async with as_caller(sla_app, facility_ehr(facility)) as ehr:
        response = await ehr.get("/$open-orders", params={"layout": "table"})
        parameters = (await ehr.get("/$open-orders")).json()

    rows = response.json()["rows"]
    assert [(r["order"], r["band"]) for r in rows] == [
        (f"ServiceRequest/{reads[0].order_id}", "breached"),
        (f"ServiceRequest/{reads[1].order_id}", "under-15m"),
        (f"ServiceRequest/{reads[2].order_id}", "over-4h"),
    ]
    assert rows[0]["minutes_left"] == pytest.approx(-30, abs=1)
    assert rows[1]["budget_share"] == pytest.approx(50 / 60, abs=0.02)
    first = parameters["parameter"][1]
    assert first["name"] == "open-order"
    assert {"name": "band", "valueCode": "breached"} in first["part"]
    shown = {o for event in await audit_events(sla_app, since) for o in objects(event)}
    assert {f"ServiceRequest/{r.order_id}" for r in reads[:3]} <= shown


async def test_metrics_need_no_token_and_carry_no_order_or_facility(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    now, facility = now_utc(), _facility()
    late = Read(f"late-{uuid4().hex[:8]}", now - timedelta(minutes=90), 60, facility=facility)
    done = Read(f"done-{uuid4().hex[:8]}", now - timedelta(minutes=60), 60, 30, facility=facility)
    await recorded(sla_app, late, done)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sla_app), base_url="http://testserver"
    ) as anonymous:
        response = await anonymous.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'sla_open_orders{band="breached",priority="stat"}' in text
    assert 'sla_turnaround_minutes_bucket{le="60.0",modality="CT",priority="stat"}' in text
    assert 'sla_clocks_closed{outcome="met",priority="stat"}' in text
    assert late.order_id not in text and done.order_id not in text and facility not in text


async def test_the_dashboard_page_is_served_with_a_strict_policy(sla_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sla_app), base_url="http://testserver"
    ) as browser:
        page = await browser.get("/dashboard")
        script = await browser.get("/dashboard/dashboard.js")
        other = await browser.get("/dashboard/app.py")

    assert page.status_code == 200
    assert '<meta name="fhir-base" content="/fhir">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert other.status_code == 404
