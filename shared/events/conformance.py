"""The extensions of the platform's Subscriptions and notifications (docs/fhir.md)."""

from __future__ import annotations

from shared.events.notifications import EVENT_TRACEPARENT
from shared.events.subscriptions import MIN_SECRET_LENGTH, SIGNING_SECRET
from shared.fhir.conformance import Definition, ExtensionDefinition, Value

SUBSCRIPTION_SIGNING_SECRET = ExtensionDefinition(
    url=SIGNING_SECRET,
    title="Subscription signing secret",
    description=(
        "The key (at least "
        f"{MIN_SECRET_LENGTH} characters) with which the platform signs each notification "
        "of this Subscription: the X-Teleradiology-Signature header is t=<unix seconds>,"
        'v1=<hex HMAC-SHA256 of "<t>." + body>. Required on every Subscription.'
    ),
    contexts=("Subscription",),
    value=Value(("string",)),
    min=1,
)

NOTIFICATION_EVENT_TRACEPARENT = ExtensionDefinition(
    url=EVENT_TRACEPARENT,
    title="Notification event traceparent",
    description=(
        "The W3C traceparent of the change that made this event, on each notification-event "
        "parameter of a notification's SubscriptionStatus (R4 backport Parameters), so that "
        "a subscriber can continue each change's trace."
    ),
    contexts=("Parameters.parameter",),
    value=Value(("string",)),
)

DEFINITIONS: tuple[Definition, ...] = (SUBSCRIPTION_SIGNING_SECRET, NOTIFICATION_EVENT_TRACEPARENT)
