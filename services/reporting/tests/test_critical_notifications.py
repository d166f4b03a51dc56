"""The ordering facility's EHR hears of its critical results through its subscriptions:
a loop opened (critical-result) and acknowledged (critical-result-acknowledged) -- and
never of another facility's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from services.reporting.critical_sweep import SweepMemory, sweep
from services.reporting.tests.platform import Platform, start_platform
from services.reporting.tests.test_critical import acknowledgement, communications
from shared.events.topics import TOPIC_BASE
from shared.settings import ServiceSettings
from tests.shared.events.test_subscriptions import (
    Subscriber,
    _status,
    _wait_for,
    _wait_for_status,
    subscriber,  # noqa: F401  (fixture)
    subscription,
)
from tests.support.tenants import as_caller, facility_ehr

OTHER_NPI = "1003000126"


@pytest.fixture
async def events_platform(
    make_settings: Callable[..., ServiceSettings],
) -> AsyncIterator[Platform]:
    async for running in start_platform(
        make_settings,
        events_enabled=True,
        subscription_allow_http=True,
        subscription_allowed_networks=["127.0.0.0/8"],
    ):
        yield running


async def subscribed(ehr: httpx.AsyncClient, url: str, topic: str) -> str:
    body = subscription(url, content="full-resource") | {"criteria": f"{TOPIC_BASE}/{topic}"}
    created = await ehr.post("/Subscription", json=body)
    assert created.status_code == 201, created.text
    await _wait_for_status(ehr, created.json()["id"], "active")
    return str(created.json()["id"])


def notified(endpoint: Subscriber, topic: str) -> list[dict[str, object]]:
    """The resources `endpoint` was sent in event notifications of `topic`."""
    return [
        entry["resource"]
        for bundle in endpoint.bundles()
        if _status(bundle)["type"] == "event-notification"
        and _status(bundle)["topic"] == f"{TOPIC_BASE}/{topic}"
        for entry in bundle["entry"][1:]
    ]


async def test_the_facility_is_notified_of_its_critical_result_and_its_acknowledgement(
    events_platform: Platform,
    subscriber: tuple[Subscriber, str],  # noqa: F811
) -> None:
    endpoint, url = subscriber
    platform = events_platform
    ours = await platform.ordered_and_assigned()
    theirs = await platform.ordered_and_assigned(accession="ACC-9", npi=OTHER_NPI, mrn="MRN-9")
    async with as_caller(platform.reporting_app, facility_ehr(ours.facility)) as ehr:
        await subscribed(ehr, url, "critical-result")
        await subscribed(ehr, url, "critical-result-acknowledged")
        await platform.report(ours, category=1)
        await platform.report(theirs, category=1)
        await sweep(platform.reporting_app.state, SweepMemory())
        [opening] = await communications(platform, subject=ours.patient)

        await _wait_for(lambda: len(notified(endpoint, "critical-result")) >= 1)
        answer = await ehr.put(f"/Communication/{opening['id']}", json=acknowledgement(opening))
        assert answer.status_code == 200, answer.text
        await _wait_for(lambda: len(notified(endpoint, "critical-result-acknowledged")) >= 1)

    sent = notified(endpoint, "critical-result")
    assert [c["id"] for c in sent] == [opening["id"]]  # not the other facility's
    assert sent[0]["recipient"] == [{"reference": "Practitioner/dr-ordering"}]
    [acknowledged] = notified(endpoint, "critical-result-acknowledged")
    assert acknowledged["id"] == opening["id"] and acknowledged["status"] == "completed"
