"""Subscription topics: which resource changes a subscriber can ask to be told about.

Each service declares the topics of the resource types it owns. A topic fires for a change
of its resource type by one of its interactions, when its `fires` test (given the previous
and the new version, either may be None) agrees -- e.g. "report final" fires when a
DiagnosticReport's status becomes final.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.fhir.canonical import CANONICAL_BASE

TOPIC_BASE = f"{CANONICAL_BASE}/SubscriptionTopic"

Resource = dict[str, Any]
FiresTest = Callable[[Resource | None, Resource | None], bool]


def always(_previous: Resource | None, _current: Resource | None) -> bool:
    return True


def status_becomes(*statuses: str) -> FiresTest:
    """Fires when the status is one of `statuses` now and was not before."""

    def fires(previous: Resource | None, current: Resource | None) -> bool:
        now = (current or {}).get("status")
        before = (previous or {}).get("status")
        return now in statuses and before != now

    return fires


def status_changes(previous: Resource | None, current: Resource | None) -> bool:
    """Fires when an existing resource's status differs from its previous version's."""
    return (
        previous is not None
        and current is not None
        and (previous.get("status") != current.get("status"))
    )


@dataclass(frozen=True, slots=True)
class Topic:
    """One SubscriptionTopic (R5 Backport: identified by its canonical URL)."""

    name: str
    title: str
    resource_type: str
    interactions: frozenset[str]
    description: str
    fires: FiresTest = always

    @property
    def url(self) -> str:
        return f"{TOPIC_BASE}/{self.name}"

    def matches(
        self,
        resource_type: str,
        interaction: str,
        previous: Resource | None,
        current: Resource | None,
    ) -> bool:
        return (
            resource_type == self.resource_type
            and interaction in self.interactions
            and self.fires(previous, current)
        )


def topic(
    name: str,
    title: str,
    resource_type: str,
    *interactions: str,
    description: str,
    fires: FiresTest = always,
) -> Topic:
    return Topic(name, title, resource_type, frozenset(interactions), description, fires)
