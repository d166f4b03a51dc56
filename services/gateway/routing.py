"""Which service answers a request at the front door: pure decisions, no I/O.

Every resource type belongs to the one service whose registry declares it. Subscription is
the exception: each service that offers topics serves the Subscriptions to them, so a new
Subscription goes where its `criteria` (a topic URL) is offered, a search where its
`criteria` parameter points, and an existing one (`Subscription/{id}...`) to whichever
service holds that id -- found by asking (see `Upstreams.find_subscription`). A transaction
or batch Bundle goes to the one service owning every entry; one database transaction
cannot span services, so a Bundle mixing them is refused. The discovery documents under
`.well-known/` (SMART configuration, the platform's public keys) go to the service hosting
the token endpoint, as `/auth/token` does (see endpoints.py). The platform's own
definitions (StructureDefinition, CodeSystem, NamingSystem, OperationDefinition) are
answered by the front door itself (see definitions.py), so no service may declare them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.fhir.bundles import parse_bundle
from shared.fhir.conformance import DEFINITION_TYPES
from shared.fhir.outcomes import bad_request, method_not_allowed, not_found
from shared.fhir.registry import Registry

SUBSCRIPTION = "Subscription"
WELL_KNOWN = ".well-known"
# The service hosting the token endpoint (/auth/token) and the discovery documents.
TOKEN_SERVICE = "intake"
_UNKNOWN_TOPIC = (
    "criteria must be the canonical URL of a topic this server offers (see the CapabilityStatement)"
)


@dataclass(frozen=True)
class RouteTable:
    """Who owns what, built once from the services' registries."""

    services: tuple[str, ...]
    type_owners: Mapping[str, str]
    topic_owners: Mapping[str, str]
    operation_owners: Mapping[str, str]  # "$name" -> service

    @classmethod
    def from_registries(cls, registries: Iterable[Registry]) -> RouteTable:
        """The table of `registries`; a type or topic declared by two services is refused."""
        services: list[str] = []
        type_owners: dict[str, str] = {}
        topic_owners: dict[str, str] = {}
        operation_owners: dict[str, str] = {}
        for registry in registries:
            services.append(registry.service)
            for resource_type in registry.types:
                if resource_type == SUBSCRIPTION or resource_type in type_owners:
                    raise ValueError(f"{resource_type} is declared by more than one service")
                if resource_type in DEFINITION_TYPES:
                    raise ValueError(f"{resource_type} is served by the front door itself")
                type_owners[resource_type] = registry.service
            for topic in registry.topics:
                if topic.url in topic_owners:
                    raise ValueError(f"topic {topic.url} is offered by more than one service")
                topic_owners[topic.url] = registry.service
            for operation in registry.operations:
                if f"${operation.name}" in operation_owners:
                    raise ValueError(f"${operation.name} is served by more than one service")
                operation_owners[f"${operation.name}"] = registry.service
        return cls(tuple(services), type_owners, topic_owners, operation_owners)

    @property
    def subscription_services(self) -> tuple[str, ...]:
        """The services serving Subscription (those offering topics), in table order."""
        offering = set(self.topic_owners.values())
        return tuple(s for s in self.services if s in offering)

    def owner_of_type(self, resource_type: str) -> str:
        """The service serving `resource_type` (not Subscription); 404 when none does."""
        service = self.type_owners.get(resource_type)
        if service is None:
            raise not_found(f"Resource type '{resource_type}' is not served here")
        return service

    def owner_of_topic(self, topic_url: object, expression: str) -> str:
        """The service offering the topic `topic_url`; 400 naming `expression` when none."""
        service = self.topic_owners.get(topic_url) if isinstance(topic_url, str) else None
        if service is None:
            raise bad_request(_UNKNOWN_TOPIC, expression)
        return service


class RouteKind(StrEnum):
    SERVICE = "service"  # forward to Route.service
    METADATA = "metadata"  # the merged CapabilityStatement
    BUNDLE = "bundle"  # owner decided by the Bundle's entries
    NEW_SUBSCRIPTION = "new-subscription"  # owner decided by the body's criteria
    SUBSCRIPTION_QUERY = "subscription-query"  # owner decided by the criteria parameter
    SUBSCRIPTION_INSTANCE = "subscription-instance"  # owner: the service holding the id
    DEFINITION = "definition"  # the platform's own definitions, answered by the front door


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request under the FHIR base goes, or what decides it."""

    kind: RouteKind
    service: str | None = None
    resource_id: str | None = None


def route(table: RouteTable, method: str, path: str) -> Route:
    """The route of `method` on `path`, the part of the URL path after the FHIR base
    ('' for the base itself, 'Patient/1/_history' for a history)."""
    if any(segment in (".", "..") for segment in path.split("/")):
        raise not_found("No such endpoint")  # relayed as is, it would name another one
    resource_type, _, rest = path.partition("/")
    if resource_type == "":
        if method != "POST":
            raise method_not_allowed("The base URL takes POST of a transaction or batch Bundle")
        return Route(RouteKind.BUNDLE)
    if resource_type == "metadata" and not rest:
        if method != "GET":
            raise method_not_allowed("metadata is read with GET")
        return Route(RouteKind.METADATA)
    if resource_type == WELL_KNOWN:
        if method != "GET":
            raise method_not_allowed("The discovery documents are read with GET")
        return Route(RouteKind.SERVICE, service=TOKEN_SERVICE)
    if resource_type == SUBSCRIPTION and table.subscription_services:
        return _subscription_route(method, rest)
    if resource_type in DEFINITION_TYPES:
        return Route(RouteKind.DEFINITION)
    if resource_type.startswith("$") and not rest:
        service = table.operation_owners.get(resource_type)
        if service is None:
            raise not_found(f"Operation '{resource_type}' is not served here")
        return Route(RouteKind.SERVICE, service=service)
    return Route(RouteKind.SERVICE, service=table.owner_of_type(resource_type))


def _subscription_route(method: str, rest: str) -> Route:
    first = rest.partition("/")[0]
    if not first:
        if method == "POST":
            return Route(RouteKind.NEW_SUBSCRIPTION)
        return Route(RouteKind.SUBSCRIPTION_QUERY)  # search, conditional update or delete
    if first.startswith(("_", "$")):
        return Route(RouteKind.SUBSCRIPTION_QUERY)  # _search, _history, type operations
    return Route(RouteKind.SUBSCRIPTION_INSTANCE, resource_id=first)


def subscription_owner(table: RouteTable, resource: Any) -> str:
    """The service a new Subscription goes to: the one offering its topic."""
    criteria = resource.get("criteria") if isinstance(resource, dict) else None
    return table.owner_of_topic(criteria, "Subscription.criteria")


def subscription_query_owner(table: RouteTable, params: Iterable[tuple[str, str]]) -> str:
    """The service a Subscription search (or conditional write) goes to, by its `criteria`
    parameter: every topic named must be offered by the same service."""
    topics = [
        value
        for name, values in params
        if name.partition(":")[0] == "criteria"
        for value in values.split(",")
    ]
    if not topics:
        raise bad_request(
            "Subscriptions are kept by the service offering their topic: search them with "
            "criteria=<topic URL>, or read one by id",
            "criteria",
        )
    owners = {table.owner_of_topic(topic, "criteria") for topic in topics}
    if len(owners) > 1:
        raise bad_request("criteria names topics of different services; search them one by one")
    return owners.pop()


def bundle_owner(table: RouteTable, bundle: Any, base_url: str) -> str:
    """The one service owning the type of every entry of a transaction or batch Bundle."""
    bundle_type, entries = parse_bundle(bundle, base_url)
    first: dict[str, tuple[int, str]] = {}  # service -> its first entry (index, type)
    for entry in entries:
        service = _entry_owner(table, entry.index, entry.resource_type, entry.resource)
        first.setdefault(service, (entry.index, entry.resource_type))
        if len(first) > 1:
            (one, (i, one_type)), (other, (j, other_type)) = first.items()
            raise bad_request(
                f"A {bundle_type} Bundle cannot span services: entry {i} ({one_type}) "
                f"belongs to {one} and entry {j} ({other_type}) to {other}. Each service "
                "keeps its own database, so send one Bundle per service.",
                f"Bundle.entry[{j}]",
            )
    # An empty Bundle changes nothing: any service gives the same (empty) answer.
    return next(iter(first), table.services[0])


def _entry_owner(table: RouteTable, index: int, resource_type: str, resource: Any) -> str:
    where = f"Bundle.entry[{index}]"
    if resource_type == SUBSCRIPTION and table.subscription_services:
        if not isinstance(resource, dict):
            raise bad_request(
                "A Subscription entry needs its resource (its criteria names the service "
                "keeping it); read or delete a Subscription outside a Bundle",
                f"{where}.request.url",
            )
        return table.owner_of_topic(resource.get("criteria"), f"{where}.resource.criteria")
    service = table.type_owners.get(resource_type)
    if resource_type in DEFINITION_TYPES:
        raise bad_request(
            f"{resource_type} is read-only here: read or search it outside a Bundle",
            f"{where}.request.url",
        )
    if service is None:
        raise bad_request(
            f"Resource type '{resource_type}' is not served here", f"{where}.request.url"
        )
    return service
