"""Find every Reference in a resource, with the FHIRPath-style expression of where it is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.fhir.search.reference import parse


def iter_references(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(expression, Reference element) pairs, depth first, e.g. ("ServiceRequest.subject", {...})."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield path, node
        for key, value in node.items():
            if key != "resourceType":
                yield from iter_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_references(item, f"{path}[{index}]")


def referenced_id(element: Any, resource_type: str) -> str | None:
    """The id `element` (a Reference) points at when it names a `resource_type`, whether
    relative (`Type/id`) or absolute (`https://.../Type/id`); else None."""
    text = element.get("reference") if isinstance(element, dict) else None
    parsed = parse(text) if isinstance(text, str) else None
    if parsed is None or parsed[0] != resource_type:
        return None
    return parsed[1]
