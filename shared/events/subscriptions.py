"""Topic-based Subscriptions in their R4 form (Subscriptions R5 Backport IG).

A subscriber POSTs a Subscription whose `criteria` is a topic's canonical URL, with
optional filter criteria (`_criteria` extension, e.g. `ServiceRequest?requester=...`), a
rest-hook `channel.endpoint`, the payload content (`empty`, `id-only`, `full-resource`),
a heartbeat period and a signing secret. The server answers with status `requested`,
performs the handshake, and moves it to `active` (or `error`, with the reason in
`$status`). Every service serves Subscription for the topics of its own resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from shared.events.delivery import EndpointPolicy, check_endpoint
from shared.events.topics import Topic
from shared.fhir.access import ALL_TENANTS
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.outcomes import business_rule
from shared.fhir.registry import ResourceDefinition, ResourceRules, WriteContext, token
from shared.fhir.search.request import SearchLimits, parse_search
from shared.smart.clients import registered_client_id

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER_CRITERIA = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
HEARTBEAT_PERIOD = f"{BACKPORT}/backport-heartbeat-period"
TIMEOUT = f"{BACKPORT}/backport-timeout"
MAX_COUNT = f"{BACKPORT}/backport-max-count"
SIGNING_SECRET = f"{CANONICAL_BASE}/StructureDefinition/subscription-signing-secret"
CONTENTS = ("empty", "id-only", "full-resource")
MIN_SECRET_LENGTH = 32
# The registered client that made a subscription, kept among its access labels (no caller
# holds such a label, so it opens nothing): the notifier turns the subscription off once
# that client's registration is withdrawn (shared/events/notifier.py).
OWNER_CLIENT_PREFIX = "owner-client/"


def owner_client_label(client_id: str) -> str:
    """The label naming a subscription's owning client."""
    return f"{OWNER_CLIENT_PREFIX}{client_id}"


def owner_client(labels: set[str]) -> str | None:
    """The registered client that made the subscription with `labels`; None when it was
    made with the platform's own credentials or a user token."""
    for label in labels:
        if label.startswith(OWNER_CLIENT_PREFIX):
            return label.removeprefix(OWNER_CLIENT_PREFIX)
    return None


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a stored Subscription asks for, read from its R4 backport form."""

    id: str
    status: str
    topic: str
    filters: tuple[str, ...]
    endpoint: str
    content: str
    headers: tuple[str, ...]
    heartbeat_seconds: int | None
    timeout_seconds: int
    max_count: int
    secret: str


def _extension_value(element: Any, url: str) -> Any:
    for extension in (element or {}).get("extension") or []:
        if extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return value
    return None


def read_subscription(resource: dict[str, Any]) -> SubscriptionRequest:
    """The request a stored (already validated) Subscription makes."""
    channel = resource.get("channel") or {}
    filters = tuple(
        extension["valueString"]
        for extension in (resource.get("_criteria") or {}).get("extension") or []
        if extension.get("url") == FILTER_CRITERIA and extension.get("valueString")
    )
    return SubscriptionRequest(
        id=resource["id"],
        status=resource.get("status", "requested"),
        topic=resource.get("criteria", ""),
        filters=filters,
        endpoint=channel.get("endpoint", ""),
        content=_extension_value(channel.get("_payload"), PAYLOAD_CONTENT) or "id-only",
        headers=tuple(channel.get("header") or ()),
        heartbeat_seconds=_extension_value(channel, HEARTBEAT_PERIOD),
        timeout_seconds=_extension_value(channel, TIMEOUT) or 10,
        max_count=_extension_value(channel, MAX_COUNT) or 50,
        secret=_extension_value(resource, SIGNING_SECRET) or "",
    )


class SubscriptionRules(ResourceRules):
    """A Subscription must name a topic served here, use a rest-hook channel with an
    allowed endpoint, ask for a known payload content, and filter only by parameters the
    topic's resource type supports. Clients can't set the status the server manages."""

    def __init__(
        self,
        topics: tuple[Topic, ...],
        definitions: dict[str, ResourceDefinition],
        policy: EndpointPolicy,
    ) -> None:
        self.topics = {t.url: t for t in topics}
        self.definitions = definitions
        self.policy = policy

    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        topic = self.topics.get(resource.get("criteria", ""))
        if topic is None:
            raise business_rule(
                "criteria must be the canonical URL of a topic this server offers "
                "(see the CapabilityStatement)",
                "Subscription.criteria",
            )
        request = read_subscription({**resource, "id": "new"})
        self._check_filters(topic, request.filters)
        channel = resource.get("channel") or {}
        if channel.get("type") != "rest-hook":
            raise business_rule(
                "Only rest-hook channels are supported", "Subscription.channel.type"
            )
        if channel.get("payload") not in (None, "application/fhir+json", "application/json"):
            raise business_rule(
                "The payload must be application/fhir+json", "Subscription.channel.payload"
            )
        if request.content not in CONTENTS:
            raise business_rule(
                f"Payload content must be one of {', '.join(CONTENTS)}",
                "Subscription.channel.payload",
            )
        if len(request.secret) < MIN_SECRET_LENGTH:
            raise business_rule(
                f"A signing secret of at least {MIN_SECRET_LENGTH} characters is required "
                f"(extension {SIGNING_SECRET})",
                "Subscription.extension",
            )
        await check_endpoint(request.endpoint, self.policy)
        # The server moves requested -> active / error; a client may only ask for a
        # (new) handshake or switch the subscription off, or leave the status as it is.
        status = resource.get("status")
        unchanged = previous is not None and status == previous.get("status")
        if status not in ("requested", "off") and not unchanged:
            resource["status"] = "requested"

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        """A subscription keeps the access of whoever created it (its owner): it is seen,
        and it notifies, only within what the owner may read (shared/events/dispatch.py);
        and, when the owner is a registered client, it names that client, so that it stops
        once the client is withdrawn. An update, by anyone, changes none of this."""
        repository = context.repository.unconfined()
        existing = await repository.current("Subscription", resource["id"])
        if existing is not None:
            return await repository.labels([existing.pk])
        keys = context.principal.access_keys
        labels = set(keys) if keys is not None else {ALL_TENANTS}
        client = registered_client_id(context.principal)
        if client is not None:
            labels.add(owner_client_label(client))
        return labels

    def _check_filters(self, topic: Topic, filters: tuple[str, ...]) -> None:
        definition = self.definitions.get(topic.resource_type)
        for index, text in enumerate(filters):
            resource_type, _, query = text.partition("?")
            where = f"Subscription.criteria.extension[{index}]"
            if resource_type != topic.resource_type or not query or definition is None:
                raise business_rule(
                    f"Filter criteria take the form {topic.resource_type}?param=value", where
                )
            parse_search(
                definition,
                parse_qsl(query, keep_blank_values=True),
                limits=SearchLimits(1, 1),
                lenient=False,
            )


def subscription_definition(
    topics: tuple[Topic, ...], definitions: tuple[ResourceDefinition, ...], policy: EndpointPolicy
) -> ResourceDefinition:
    """Subscription as every service serves it."""
    return ResourceDefinition(
        type="Subscription",
        search_params=(
            token(
                "status",
                "status",
                description="requested | active | error | off",
                definition="http://hl7.org/fhir/SearchParameter/Subscription-status",
            ),
            token("criteria", "criteria", description="The topic's canonical URL"),
            token("url", "channel.endpoint", description="Where notifications go"),
        ),
        rules=SubscriptionRules(topics, {d.type: d for d in definitions}, policy),
        documentation="Topic-based subscriptions (Subscriptions R5 Backport, R4 form).",
    )
