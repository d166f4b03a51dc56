"""The platform runs as real processes: the gateway fronts every service, and a service
that crashes is back once restarted."""

from __future__ import annotations

import httpx

from tests.e2e.platform import E2EPlatform


def test_the_gateway_metadata_lists_orders_and_tasks(platform: E2EPlatform) -> None:
    with platform.client() as client:
        answer = client.get("/metadata")

    assert answer.status_code == 200
    types = {r["type"] for rest in answer.json()["rest"] for r in rest["resource"]}
    assert {"ServiceRequest", "Task"} <= types


def test_a_crashed_service_is_ready_again_once_restarted(platform: E2EPlatform) -> None:
    gateway_ready = f"{platform.local.origin('gateway')}/readyz"

    platform.local.kill("sla")
    assert httpx.get(gateway_ready, trust_env=False).status_code != 200

    platform.local.start("sla")
    platform.local.wait_ready(["sla", "gateway"], timeout=60)
    assert httpx.get(gateway_ready, trust_env=False).status_code == 200
