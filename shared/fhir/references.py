"""Find every Reference in a resource, with the FHIRPath-style expression of where it is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


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
