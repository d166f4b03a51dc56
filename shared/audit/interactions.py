"""The REST interaction a request asks for, told from its method and path alone: what an
AuditEvent records when the request was refused before any endpoint noted what it did."""

from __future__ import annotations

from dataclasses import dataclass

# Paths under the FHIR base that are not audited: the CapabilityStatement (public) and the
# OpenAPI pages.
UNAUDITED = frozenset({"metadata", "docs", "openapi.json", "docs/oauth2-redirect"})


@dataclass(frozen=True, slots=True)
class Asked:
    """What a request asked for (path relative to the FHIR base)."""

    interaction: str  # a http://hl7.org/fhir/restful-interaction code
    resource_type: str | None = None
    resource_id: str | None = None
    version: str | None = None

    @property
    def object_path(self) -> str | None:
        """`Type/id[/_history/vid]` of the instance asked for, if any."""
        if self.resource_type is None or self.resource_id is None:
            return None
        path = f"{self.resource_type}/{self.resource_id}"
        return f"{path}/_history/{self.version}" if self.version else path


_TYPE_LEVEL = {"GET": "search-type", "POST": "create", "PUT": "update", "DELETE": "delete"}
_INSTANCE_LEVEL = {"GET": "read", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}


def asked(method: str, path: str, bundle_type: str | None = None) -> Asked:
    """The interaction `method` on `path` asks for ('' is the base: a Bundle, a `batch`
    until its type is known)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return Asked(bundle_type or "batch")
    if parts[0].startswith("$"):
        return Asked("operation")
    resource_type, rest = parts[0], parts[1:]
    if not rest:
        return Asked(_TYPE_LEVEL.get(method, "operation"), resource_type)
    if rest[0] == "_search":
        return Asked("search-type", resource_type)
    if rest[0] == "_history":
        return Asked("history-type", resource_type)
    if rest[0].startswith("$"):
        return Asked("operation", resource_type)
    resource_id, more = rest[0], rest[1:]
    if not more:
        return Asked(_INSTANCE_LEVEL.get(method, "operation"), resource_type, resource_id)
    if more[0] == "_history":
        if len(more) > 1:
            return Asked("vread", resource_type, resource_id, more[1])
        return Asked("history-instance", resource_type, resource_id)
    return Asked("operation", resource_type, resource_id)
