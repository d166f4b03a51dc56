"""Reference search: `Type/id`, `id` (with `:Type`), or an absolute URL on this server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from shared.fhir.storage.tables import search_reference

_REFERENCE_RE = re.compile(
    r"^(?:(?P<base>https?://\S+?)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-\.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-\.]{1,64})?$"
)
_ID_RE = re.compile(r"^[A-Za-z0-9\-\.]{1,64}$")


def parse(reference: str) -> tuple[str | None, str] | None:
    """(type, id) of a literal reference; None for contained, urn or unparseable ones."""
    match = _REFERENCE_RE.match(reference)
    if match:
        return match["type"], match["id"]
    if _ID_RE.match(reference):
        return None, reference
    return None


def extract(value: Any, targets: tuple[str, ...]) -> Iterator[tuple[str | None, str]]:
    """(type, id) targets of a Reference value, limited to `targets` types when given."""
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return
    parsed = parse(value["reference"])
    if parsed is None:
        return
    target_type, target_id = parsed
    if targets and target_type not in targets:
        if target_type is not None or len(targets) != 1:
            return
        target_type = targets[0]
    yield target_type, target_id


def condition(text: str, type_modifier: str | None) -> ColumnElement[bool]:
    """SQL matching one reference search value against `search_reference` rows."""
    parsed = parse(text)
    if parsed is None:
        return search_reference.c.target_id == text
    target_type, target_id = parsed
    target_type = target_type or type_modifier
    clause = search_reference.c.target_id == target_id
    if target_type:
        return and_(clause, search_reference.c.target_type == target_type)
    return clause


def any_condition(values: list[str], type_modifier: str | None) -> ColumnElement[bool]:
    return or_(*(condition(v, type_modifier) for v in values))
