"""The merged CapabilityStatement, and how long the front door keeps it."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.app import REGISTRIES
from services.gateway.capability import (
    CapabilityCache,
    at_base,
    merge_capability_statements,
)
from shared.events.runtime import with_subscriptions
from shared.fhir.capability import capability_statement
from shared.fhir.outcomes import FhirError, bad_gateway
from shared.settings import ServiceSettings
from tests.shared.smart.test_discovery import smart_token_url

TOPIC_EXTENSION = "capabilitystatement-subscriptiontopic-canonical"


def service_statements() -> list[dict[str, Any]]:
    """What each service's /fhir/metadata answers."""
    return [
        capability_statement(
            with_subscriptions(registry, ServiceSettings(service_name=registry.service)),
            base_url=f"http://{registry.service}/fhir",
            token_url=f"http://{registry.service}/auth/token",
            software_version="0.1.0",
            date=f"2026-01-0{n}T00:00:00Z",
        )
        for n, registry in enumerate(REGISTRIES, start=1)
    ]


def resources_of(statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["type"]: r for r in statement["rest"][0]["resource"]}


def test_the_merged_statement_lists_every_services_types_once() -> None:
    statements = service_statements()
    merged = merge_capability_statements(statements, software_version="9.9.9")
    types = [r["type"] for r in merged["rest"][0]["resource"]]
    assert len(types) == len(set(types))
    assert set(types) == {t for r in REGISTRIES for t in r.types} | {"Subscription"}
    for statement in statements:
        for resource_type, resource in resources_of(statement).items():
            if resource_type != "Subscription":
                assert resources_of(merged)[resource_type] == resource
    assert merged["software"]["version"] == "9.9.9"
    assert merged["date"] == "2026-01-04T00:00:00Z"  # the latest change of any service
    assert merged["rest"][0]["interaction"] == [{"code": "transaction"}, {"code": "batch"}]


def test_the_merged_subscription_offers_every_services_topics() -> None:
    merged = merge_capability_statements(service_statements(), software_version="0.1.0")
    subscription = resources_of(merged)["Subscription"]
    offered = [
        e["valueCanonical"] for e in subscription["extension"] if e["url"].endswith(TOPIC_EXTENSION)
    ]
    assert sorted(offered) == sorted(t.url for r in REGISTRIES for t in r.topics)
    assert [op["name"] for op in subscription["operation"]] == ["status", "events"]


def test_the_statement_names_the_base_it_is_served_at_and_its_token_url() -> None:
    merged = merge_capability_statements(service_statements(), software_version="0.1.0")
    served = at_base(merged, "https://fhir.example.org/fhir", "https://fhir.example.org/auth/token")
    assert served["implementation"]["url"] == "https://fhir.example.org/fhir"
    assert smart_token_url(served) == "https://fhir.example.org/auth/token"
    assert served["rest"][0]["resource"] == merged["rest"][0]["resource"]


class Fetches:
    """A fetch that answers `statement`, or fails while `failing`."""

    def __init__(self) -> None:
        self.count = 0
        self.failing = False

    async def __call__(self) -> dict[str, Any]:
        self.count += 1
        if self.failing:
            raise bad_gateway("The sla service is not available")
        return {"version": self.count}


async def test_the_statement_is_reused_until_it_is_older_than_the_ttl() -> None:
    fetch = Fetches()
    kept = CapabilityCache(ttl_seconds=60)
    assert await kept.get(fetch) == await kept.get(fetch) == {"version": 1}
    expiring = CapabilityCache(ttl_seconds=0)
    await expiring.get(fetch)
    assert await expiring.get(fetch) == {"version": 3}


async def test_while_a_service_cannot_be_asked_the_last_statement_is_served() -> None:
    fetch = Fetches()
    cache = CapabilityCache(ttl_seconds=0)
    with_statement = await cache.get(fetch)
    fetch.failing = True
    assert await cache.get(fetch) == with_statement
    with pytest.raises(FhirError) as error:
        await CapabilityCache(ttl_seconds=0).get(fetch)
    assert error.value.status == 502
