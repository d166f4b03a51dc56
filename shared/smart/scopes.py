"""SMART scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html): what a
request asks for, narrowed to what the caller is registered for.

A granted scope never exceeds the registration: each requested scope is intersected with
each registered one (`system/*.rs` against a registered `system/Task.cruds` grants
`system/Task.rs`). Scopes this platform does not grant (`openid`, `launch`, v2 scopes with
search parameters) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ACTIONS = "cruds"
_V2 = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([cruds]+)$")
_V1 = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")
_V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True, slots=True)
class Scope:
    """One resource scope: a context (patient/user/system), a type or `*`, its actions."""

    context: str
    resource_type: str
    actions: str  # a subsequence of "cruds"

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        """The scope `text` names (v2 `.cruds` or v1 `.read/.write/.*`); None otherwise."""
        match = _V2.match(text)
        if match:
            actions = match[3]
        else:
            match = _V1.match(text)
            if not match:
                return None
            actions = _V1_ACTIONS[match[3]]
        return cls(match[1], match[2], "".join(a for a in ACTIONS if a in actions))

    def __str__(self) -> str:
        return f"{self.context}/{self.resource_type}.{self.actions}"

    def covers(self, other: Scope) -> bool:
        """Whether this scope allows everything `other` does."""
        return (
            self.context == other.context
            and self.resource_type in ("*", other.resource_type)
            and set(other.actions) <= set(self.actions)
        )

    def within(self, limit: Scope) -> Scope | None:
        """The part of this scope that `limit` also allows; None when nothing."""
        if self.context != limit.context:
            return None
        if self.resource_type == "*":
            resource_type = limit.resource_type
        elif limit.resource_type in ("*", self.resource_type):
            resource_type = self.resource_type
        else:
            return None
        actions = "".join(a for a in ACTIONS if a in self.actions and a in limit.actions)
        return Scope(self.context, resource_type, actions) if actions else None


def split_scopes(text: str | None) -> list[str]:
    """The scopes of a space-separated `scope` value (RFC 6749 section 3.3)."""
    return (text or "").split()


def parse_all(scopes: Iterable[str]) -> list[Scope]:
    """The resource scopes among `scopes` (others are dropped)."""
    return [scope for scope in map(Scope.parse, scopes) if scope is not None]


def narrow(requested: Iterable[str], registered: Iterable[str]) -> frozenset[str]:
    """The requested scopes as far as the registered ones allow: one scope per context and
    type, none another one covers."""
    limits = parse_all(registered)
    actions: dict[tuple[str, str], set[str]] = {}
    for scope in parse_all(requested):
        for limit in limits:
            part = scope.within(limit)
            if part is not None:
                actions.setdefault((part.context, part.resource_type), set()).update(part.actions)
    granted = [
        Scope(context, resource_type, "".join(a for a in ACTIONS if a in allowed))
        for (context, resource_type), allowed in actions.items()
    ]
    kept = [s for s in granted if not any(o != s and o.covers(s) for o in granted)]
    return frozenset(str(scope) for scope in kept)


def invalid_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes of a registration that are not resource scopes (a configuration error)."""
    return [scope for scope in scopes if Scope.parse(scope) is None]
