"""Delivery to the EHR: once the ordering facility's own subscription accepted a final
report's notification, reporting records it -- one report-delivery Communication per report
version, however often it is delivered, told on topic report-delivered -- and nothing for a
subscription of anyone else who sees the report (its radiologist, the platform)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from sqlalchemy import update

from services.reporting.critical import COMMUNICATION_KIND_SYSTEM, REPORT_DELIVERY, token_value
from services.reporting.delivery import REPORT_DELIVERY_SYSTEM
from services.reporting.tests.platform import Platform
from services.reporting.tests.test_critical import communications
from services.reporting.tests.test_critical_notifications import (
    events_platform,  # noqa: F401  (fixture)
    notified,
    subscribed,
)
from shared.events.tables import subscription_state
from shared.fhir.service import now_utc
from shared.orders import ORDERING_FACILITY_EXTENSION
from tests.shared.events.test_subscriptions import (
    Subscriber,
    _wait_for,
    subscriber,  # noqa: F401  (fixture)
)
from tests.support.tenants import as_caller, facility_ehr, radiologist

DELIVERIES = {"category": token_value(COMMUNICATION_KIND_SYSTEM, REPORT_DELIVERY)}


async def deliveries(platform: Platform) -> list[dict[str, Any]]:
    return await communications(platform, **DELIVERIES)


async def wait_for_deliveries(platform: Platform, count: int) -> list[dict[str, Any]]:
    """The delivery records, once there are `count` (the hook runs just after the POST)."""
    deadline = time.monotonic() + 10
    while len(found := await deliveries(platform)) < count:
        assert time.monotonic() < deadline, f"expected {count} deliveries, found {len(found)}"
        await asyncio.sleep(0.05)
    return found


async def settled() -> None:
    """Time for a delivery-receipt hook to have run after a notification arrived."""
    await asyncio.sleep(0.5)


async def deliver_again(platform: Platform, subscription_id: str) -> None:
    """Make the notifier send the subscription's events once more, from the first."""
    async with platform.reporting_app.state.database.transaction() as session:
        await session.execute(
            update(subscription_state)
            .where(subscription_state.c.subscription_id == subscription_id)
            .values(delivered_through=0, next_attempt_at=now_utc())
        )
    platform.reporting_app.state.notifier.wake.set()


async def test_the_facilitys_subscription_records_one_delivery_per_report_version(
    events_platform: Platform,  # noqa: F811
    subscriber: tuple[Subscriber, str],  # noqa: F811
) -> None:
    endpoint, url = subscriber
    platform = events_platform
    read = await platform.ordered_and_assigned()
    async with as_caller(platform.reporting_app, facility_ehr(read.facility)) as ehr:
        finals = await subscribed(ehr, url, "report-final")
        await subscribed(ehr, url, "report-delivered")
        before = now_utc()
        report = await platform.report(read, category=None)
        [delivered] = await wait_for_deliveries(platform, 1)
        await _wait_for(lambda: len(notified(endpoint, "report-delivered")) >= 1)

        await deliver_again(platform, finals)
        await _wait_for(lambda: len(notified(endpoint, "report-final")) >= 2)
        await settled()
        seen = await ehr.get(f"/Communication/{delivered['id']}")
        changed = await ehr.put(f"/Communication/{delivered['id']}", json=delivered)

    assert report["extension"] == [
        {"url": ORDERING_FACILITY_EXTENSION, "valueReference": {"reference": read.facility}}
    ]
    assert await deliveries(platform) == [delivered]  # the redelivery wrote nothing
    assert delivered["status"] == "completed"
    assert delivered["identifier"] == [
        {"system": REPORT_DELIVERY_SYSTEM, "value": f"{report['id']}/1"}
    ]
    assert delivered["basedOn"] == [{"reference": f"DiagnosticReport/{report['id']}"}]
    assert delivered["about"] == [{"reference": f"DiagnosticReport/{report['id']}/_history/1"}]
    assert delivered["subject"] == {"reference": read.patient}
    assert delivered["recipient"] == [{"reference": read.facility}]
    sent = datetime.fromisoformat(delivered["sent"].replace("Z", "+00:00"))
    assert before.replace(microsecond=0) <= sent <= now_utc()
    assert [c["id"] for c in notified(endpoint, "report-delivered")] == [delivered["id"]]
    assert seen.status_code == 200, seen.text  # the facility sees its own
    assert changed.status_code == 403, changed.text  # the platform's record alone


async def test_a_subscription_of_someone_else_who_sees_the_report_records_nothing(
    events_platform: Platform,  # noqa: F811
    subscriber: tuple[Subscriber, str],  # noqa: F811
) -> None:
    endpoint, url = subscriber
    platform = events_platform
    read = await platform.ordered_and_assigned()
    async with as_caller(platform.reporting_app, radiologist(read.practitioner)) as reader:
        await subscribed(reader, url, "report-final")
        forged = await reader.post(
            "/Communication",
            json={
                "resourceType": "Communication",
                "status": "completed",
                "category": [
                    {"coding": [{"system": COMMUNICATION_KIND_SYSTEM, "code": REPORT_DELIVERY}]}
                ],
            },
        )
    await subscribed(platform.reporting, url, "report-final")  # the platform's own
    await platform.report(read, category=None)
    await _wait_for(lambda: len(notified(endpoint, "report-final")) >= 2)
    await settled()

    assert await deliveries(platform) == []
    assert forged.status_code == 403, forged.text
