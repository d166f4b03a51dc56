"""Walk dotted paths through resource JSON, flattening lists on the way.

A step may filter extensions by URL: `extension(https://example.org/ext).valueReference`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

_STEP_RE = re.compile(r"\.(?![^(]*\))")
_FILTER_RE = re.compile(r"^(?P<name>\w+)\((?P<url>[^)]+)\)$")


@cache
def _steps(path: str) -> tuple[tuple[str, str | None], ...]:
    steps = []
    for step in _STEP_RE.split(path):
        match = _FILTER_RE.match(step)
        steps.append((match["name"], match["url"]) if match else (step, None))
    return tuple(steps)


def values_at(resource: dict[str, Any], path: str) -> Iterator[Any]:
    """Every value at `path` ("address.state", "series.modality") in `resource`."""
    current: list[Any] = [resource]
    for name, url in _steps(path):
        nxt: list[Any] = []
        for node in current:
            if not isinstance(node, dict):
                continue
            value = node.get(name)
            if value is None:
                continue
            items = value if isinstance(value, list) else [value]
            if url is not None:
                items = [i for i in items if isinstance(i, dict) and i.get("url") == url]
            nxt.extend(items)
        current = nxt
    yield from current
