"""Which service the front door picks for each request: decisions only, no services."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.app import REGISTRIES
from services.gateway.routing import (
    Route,
    RouteKind,
    RouteTable,
    bundle_owner,
    route,
    subscription_owner,
    subscription_query_owner,
)
from services.intake.tests.builders import bundle, patient, post_entry, request_entry
from shared.events.topics import TOPIC_BASE
from shared.fhir.outcomes import FhirError
from shared.fhir.registry import Registry, ResourceDefinition

BASE = "http://gateway.test/fhir"
TABLE = RouteTable.from_registries(REGISTRIES)
ORDER_REGISTERED = f"{TOPIC_BASE}/order-registered"
TASK_CREATED = f"{TOPIC_BASE}/task-created"
REPORT_FINAL = f"{TOPIC_BASE}/report-final"


def refused(error: pytest.ExceptionInfo[FhirError], status: int) -> dict[str, Any]:
    """The error's single issue, after checking its status."""
    assert error.value.status == status
    (issue,) = error.value.outcome()["issue"]
    return dict(issue)


def task(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Task", "status": "requested", "intent": "order", **elements}


def subscription(topic: str) -> dict[str, Any]:
    return {"resourceType": "Subscription", "status": "requested", "criteria": topic}


# -- resource types -----------------------------------------------------------------------


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.service)
def test_every_type_a_service_declares_goes_to_that_service(registry: Registry) -> None:
    for resource_type in registry.types:
        for path in (resource_type, f"{resource_type}/1", f"{resource_type}/1/_history/2"):
            for method in ("GET", "POST", "PUT", "DELETE"):
                assert route(TABLE, method, path) == Route(
                    RouteKind.SERVICE, service=registry.service
                )


def test_the_table_lists_every_declared_type_and_topic_once() -> None:
    assert set(TABLE.type_owners) == {t for r in REGISTRIES for t in r.types}
    assert set(TABLE.topic_owners) == {t.url for r in REGISTRIES for t in r.topics}
    assert TABLE.subscription_services == ("intake", "assignment", "reporting", "sla")
    assert set(TABLE.operation_owners) == {f"${o.name}" for r in REGISTRIES for o in r.operations}


def test_a_system_operation_goes_to_the_service_serving_it() -> None:
    assert route(TABLE, "GET", "$turnaround") == Route(RouteKind.SERVICE, service="sla")
    with pytest.raises(FhirError) as error:
        route(TABLE, "GET", "$unknown")
    assert refused(error, 404)["code"] == "not-found"


@pytest.mark.parametrize(
    "path",
    [
        "DiagnosticReport/r-1/$verify",
        "DiagnosticReport/r-1/_history/2/$verify",
        "Provenance/$signing-keys",
    ],
)
def test_a_type_or_instance_operation_goes_to_the_service_of_its_type(path: str) -> None:
    for method in ("GET", "POST"):
        assert route(TABLE, method, path) == Route(RouteKind.SERVICE, service="reporting")


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.service)
def test_an_instance_operation_goes_to_the_service_serving_its_type(registry: Registry) -> None:
    for definition in registry.definitions:
        for operation in definition.operations:  # e.g. Task/{id}/$reroute
            path = f"{definition.type}/1/${operation.name}"
            assert route(TABLE, "POST", path) == Route(RouteKind.SERVICE, service=registry.service)


def test_a_type_declared_by_two_services_is_refused() -> None:
    one = Registry(service="one", definitions=(ResourceDefinition(type="Patient"),))
    other = Registry(service="other", definitions=(ResourceDefinition(type="Patient"),))
    with pytest.raises(ValueError, match="Patient"):
        RouteTable.from_registries([one, other])


@pytest.mark.parametrize(
    "path", ["Observation", "Observation/1", "patient", "_history", "Patient/../../readyz", "."]
)
def test_a_path_naming_no_served_type_is_not_found(path: str) -> None:
    with pytest.raises(FhirError) as error:
        route(TABLE, "GET", path)
    assert refused(error, 404)["code"] == "not-found"


def test_metadata_is_answered_by_the_front_door_and_only_read() -> None:
    assert route(TABLE, "GET", "metadata") == Route(RouteKind.METADATA)
    with pytest.raises(FhirError) as error:
        route(TABLE, "POST", "metadata")
    refused(error, 405)


def test_the_base_url_takes_only_a_bundle() -> None:
    assert route(TABLE, "POST", "") == Route(RouteKind.BUNDLE)
    with pytest.raises(FhirError) as error:
        route(TABLE, "GET", "")
    refused(error, 405)


# -- subscriptions ------------------------------------------------------------------------


def test_subscription_requests_are_told_apart_by_what_decides_their_service() -> None:
    assert route(TABLE, "POST", "Subscription") == Route(RouteKind.NEW_SUBSCRIPTION)
    for method, path in (
        ("GET", "Subscription"),
        ("POST", "Subscription/_search"),
        ("GET", "Subscription/_history"),
        ("DELETE", "Subscription"),
    ):
        assert route(TABLE, method, path) == Route(RouteKind.SUBSCRIPTION_QUERY)
    for method, path in (
        ("GET", "Subscription/abc"),
        ("PUT", "Subscription/abc"),
        ("DELETE", "Subscription/abc"),
        ("GET", "Subscription/abc/$status"),
        ("GET", "Subscription/abc/_history/1"),
    ):
        assert route(TABLE, method, path) == Route(
            RouteKind.SUBSCRIPTION_INSTANCE, resource_id="abc"
        )


@pytest.mark.parametrize(
    ("topic", "service"),
    [(ORDER_REGISTERED, "intake"), (TASK_CREATED, "assignment"), (REPORT_FINAL, "reporting")],
)
def test_a_new_subscription_goes_to_the_service_offering_its_topic(
    topic: str, service: str
) -> None:
    assert subscription_owner(TABLE, subscription(topic)) == service


@pytest.mark.parametrize(
    "resource",
    [subscription(f"{TOPIC_BASE}/nope"), {"resourceType": "Subscription"}, [], "x"],
)
def test_a_subscription_to_no_offered_topic_is_a_bad_request(resource: Any) -> None:
    with pytest.raises(FhirError) as error:
        subscription_owner(TABLE, resource)
    assert refused(error, 400)["expression"] == ["Subscription.criteria"]


def test_a_subscription_search_goes_where_its_criteria_topics_are_offered() -> None:
    assert subscription_query_owner(TABLE, [("criteria", TASK_CREATED)]) == "assignment"
    both = f"{TASK_CREATED},{TOPIC_BASE}/task-status-changed"
    assert subscription_query_owner(TABLE, [("status", "active"), ("criteria", both)]) == (
        "assignment"
    )


@pytest.mark.parametrize(
    "params",
    [
        [],
        [("status", "active")],
        [("criteria", f"{TOPIC_BASE}/nope")],
        [("criteria", f"{TASK_CREATED},{REPORT_FINAL}")],
    ],
)
def test_a_subscription_search_without_one_services_topics_is_a_bad_request(
    params: list[tuple[str, str]],
) -> None:
    with pytest.raises(FhirError) as error:
        subscription_query_owner(TABLE, params)
    refused(error, 400)


# -- bundles ------------------------------------------------------------------------------


def test_a_bundle_goes_to_the_service_owning_every_entry() -> None:
    entries = (
        post_entry(patient(gender="female"), "urn:uuid:1"),
        request_entry("GET", "ServiceRequest?status=active"),
        request_entry("DELETE", f"{BASE}/Organization/7"),  # absolute, on this base
    )
    assert bundle_owner(TABLE, bundle("transaction", *entries), BASE) == "intake"
    tasks = (post_entry(task()), request_entry("GET", "Practitioner/1"))
    assert bundle_owner(TABLE, bundle("batch", *tasks), BASE) == "assignment"
    subscribing = post_entry(subscription(REPORT_FINAL))
    assert bundle_owner(TABLE, bundle("transaction", subscribing), BASE) == "reporting"


def test_a_bundle_mixing_services_is_refused_naming_both() -> None:
    mixed = bundle("transaction", post_entry(patient()), post_entry(task()))
    with pytest.raises(FhirError) as error:
        bundle_owner(TABLE, mixed, BASE)
    issue = refused(error, 400)
    assert issue["expression"] == ["Bundle.entry[1]"]
    for named in ("cannot span services", "Patient", "intake", "Task", "assignment"):
        assert named in issue["diagnostics"]


@pytest.mark.parametrize(
    ("entry", "expression"),
    [
        (request_entry("GET", "Observation/1"), "Bundle.entry[0].request.url"),
        (
            request_entry("GET", "http://elsewhere.test/fhir/Patient/1"),
            "Bundle.entry[0].request.url",
        ),
        (request_entry("DELETE", "Subscription/abc"), "Bundle.entry[0].request.url"),
        (post_entry(subscription("urn:nope")), "Bundle.entry[0].resource.criteria"),
        ({"resource": patient()}, "Bundle.entry[0].request"),
    ],
)
def test_a_bundle_entry_no_service_owns_is_a_bad_request(
    entry: dict[str, Any], expression: str
) -> None:
    with pytest.raises(FhirError) as error:
        bundle_owner(TABLE, bundle("batch", entry), BASE)
    assert refused(error, 400)["expression"] == [expression]


@pytest.mark.parametrize(
    "body", [patient(), {"resourceType": "Bundle", "type": "searchset"}, [], None]
)
def test_only_a_transaction_or_batch_bundle_is_routed(body: Any) -> None:
    with pytest.raises(FhirError) as error:
        bundle_owner(TABLE, body, BASE)
    refused(error, 400)


def test_an_empty_bundle_is_answered_by_any_service() -> None:
    assert bundle_owner(TABLE, bundle("batch"), BASE) in TABLE.services
