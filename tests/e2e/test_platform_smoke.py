"""The platform runs as real processes: the gateway fronts every service, every access is
audited, and a service that crashes is back once restarted."""

from __future__ import annotations

import socket

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


def test_the_server_refuses_a_request_head_of_megabytes(platform: E2EPlatform) -> None:
    host, port = platform.local.local_host, platform.local.ports["gateway"]
    head = b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 2_000_000
    with socket.create_connection((host, port), timeout=10) as connection:
        try:
            connection.sendall(head + b"\r\n\r\n")
            answer = connection.recv(64)
        except ConnectionError:  # refused while still sending: closed, not read
            answer = b""

    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")


def test_reads_through_the_gateway_are_audited_and_auditors_search_them_there(
    platform: E2EPlatform,
) -> None:
    with platform.client() as client:
        patient = client.post("/Patient", json={"resourceType": "Patient", "gender": "other"})
        assert patient.status_code == 201
        path = f"Patient/{patient.json()['id']}"
        assert client.get(f"/{path}").status_code == 200

        # AuditEvent is sla's (the audit log every service writes to), read and search only
        found = client.get("/AuditEvent", params={"patient": path, "source": "intake"})
        refused = client.post("/AuditEvent", json={"resourceType": "AuditEvent"})

    assert found.status_code == 200
    events = [e["resource"] for e in found.json()["entry"]]
    assert [e["subtype"][0]["code"] for e in events] == ["read", "create"]  # newest first
    assert all(e["agent"][0]["network"]["address"] == "127.0.0.1" for e in events)
    assert refused.status_code == 405
