"""Delivery to the EHR: the record that a final (or amended) report reached the ordering
facility (docs/reporting.md, "Delivery to the EHR").

Reporting's delivery-receipt hook (shared/events/receipts.py): when a notification of topic
report-final or report-amended was accepted by a subscription that belongs to the report's
ordering facility -- its access labels hold the `Organization/<id>` the report names with
the ordering-facility extension -- the platform writes a Communication of category
report-delivery for that report version. A vendor's, a radiologist's or the platform's own
subscription delivers nothing to the facility, and records nothing.

Its identifier (`report-delivery|<report id>/<version>`) is kept unique: a notification
delivered again writes nothing new, and topic report-delivered fires once per version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from services.reporting.critical import COMMUNICATION_KIND_SYSTEM, REPORT_DELIVERY
from shared.events.consumer import ConsumerContext
from shared.events.notifications import NumberedEvent
from shared.events.receipts import DeliveryReceipt
from shared.events.topics import TOPIC_BASE
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.service import format_instant
from shared.orders import ORDERING_FACILITY_EXTENSION, report_facility

REPORT_DELIVERY_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/report-delivery"
# The topics whose notifications carry a report the facility files as its result.
DELIVERED_TOPICS = frozenset(f"{TOPIC_BASE}/{name}" for name in ("report-final", "report-amended"))


async def record_deliveries(receipt: DeliveryReceipt, context: ConsumerContext) -> None:
    """Record each report version `receipt` brought to its own ordering facility."""
    if receipt.topic not in DELIVERED_TOPICS:
        return
    for report in delivered_reports(receipt.events):
        facility = report_facility(report)
        if facility is None or facility not in receipt.labels:
            continue  # not the ordering facility's own subscription
        await context.fhir.create(
            "Communication", delivery_record(report, facility, receipt.delivered_at)
        )


def delivered_reports(events: tuple[NumberedEvent, ...]) -> list[dict[str, Any]]:
    """The report versions a notification carried (a deletion carries none)."""
    return [
        orjson.loads(event.content)
        for event in events
        if event.resource_type == "DiagnosticReport" and event.content is not None
    ]


def delivery_key(report: dict[str, Any]) -> str:
    """`<report id>/<version>`: one delivery record per report version."""
    return f"{report['id']}/{(report.get('meta') or {}).get('versionId', '1')}"


def delivery_record(report: dict[str, Any], facility: str, sent: datetime) -> dict[str, Any]:
    """The Communication saying that this report version reached `facility` at `sent`."""
    version = (report.get("meta") or {}).get("versionId", "1")
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": REPORT_DELIVERY_SYSTEM, "value": delivery_key(report)}],
        "basedOn": [{"reference": f"DiagnosticReport/{report['id']}"}],
        "status": "completed",
        "category": [{"coding": [{"system": COMMUNICATION_KIND_SYSTEM, "code": REPORT_DELIVERY}]}],
        "about": [{"reference": f"DiagnosticReport/{report['id']}/_history/{version}"}],
        "sent": format_instant(sent),
        "recipient": [{"reference": facility}],
        "extension": [
            {"url": ORDERING_FACILITY_EXTENSION, "valueReference": {"reference": facility}}
        ],
    }
    if report.get("subject"):
        communication["subject"] = report["subject"]
    return communication


def delivery_identifiers(communication: dict[str, Any]) -> list[tuple[str, str]]:
    """The unique key of a report-delivery Communication."""
    return [
        (REPORT_DELIVERY_SYSTEM, i["value"])
        for i in communication.get("identifier") or []
        if i.get("system") == REPORT_DELIVERY_SYSTEM and i.get("value")
    ]
