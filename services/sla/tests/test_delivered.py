"""The `delivered` milestone: the first report-delivery Communication reporting records
(topic report-delivered) marks it for the report's order, at the Communication's `sent` --
when the facility's EHR accepted the notification -- and `$turnaround` shows it with the
interval final-to-delivered."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.reporting.delivery import delivery_record
from services.sla.tests.builders import Peers, at, diagnostic_report, new_order_id, order
from services.sla.tests.test_consumptions import facts, heard, recorded
from shared.fhir.service import format_instant

FACILITY = "Organization/facility-1"


def delivery(report: dict[str, Any], *, sent: float, stored: float) -> dict[str, Any]:
    """The Communication reporting writes once `report` reached the facility at `sent`."""
    communication = delivery_record(report, FACILITY, at(sent))
    version = report["meta"]["versionId"]
    communication["id"] = f"delivery-{report['id']}-{version}"
    communication["meta"] = {"versionId": "1", "lastUpdated": format_instant(at(stored))}
    return communication


async def test_the_first_delivery_marks_delivered_at_when_it_was_sent(
    sla_app: FastAPI, sla: httpx.AsyncClient
) -> None:
    order_id = new_order_id()
    final = diagnostic_report(order_id, minutes=30)
    amended = diagnostic_report(order_id, minutes=50, status="amended", version=2)
    peers = Peers(amended)  # reporting answers with the report's current version
    await recorded(sla_app, order(order_id, minutes=0), final)

    await heard(sla_app, "report-delivered", delivery(amended, sent=51, stored=51), peers)
    await heard(sla_app, "report-delivered", delivery(final, sent=33, stored=35), peers)
    await heard(sla_app, "report-delivered", delivery(final, sent=33, stored=35), peers)

    assert (await facts(sla_app, order_id)).milestones["delivered"] == at(33)
    assert peers.asked == [f"DiagnosticReport/{final['id']}"] * 3
    response = await sla.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})
    assert response.status_code == 200, response.text
    parts = {
        (p["name"], p["part"][0]["valueCode"]): p["part"][1]
        for p in response.json()["parameter"]
        if "part" in p
    }
    assert parts[("milestone", "delivered")] == {
        "name": "time",
        "valueInstant": format_instant(at(33)),
    }
    assert parts[("interval", "final-to-delivered")] == {"name": "minutes", "valueDecimal": 3}
