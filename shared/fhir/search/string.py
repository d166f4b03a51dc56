"""String search: starts-with by default, `:exact`, `:contains`; case- and accent-insensitive.

Indexed from strings, HumanName and Address parts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, or_

from shared.fhir.outcomes import bad_request
from shared.fhir.storage.tables import search_string

_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")
NORMALIZED_LEN = 255
EXACT_LEN = 1024


def normalize(text: str) -> str:
    """Lower case without accents, as FHIR's default string match requires."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def extract(value: Any) -> Iterator[str]:
    """The strings one element value is searchable by."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
        for part in parts:
            item = value.get(part)
            if isinstance(item, str):
                yield item
            elif isinstance(item, list):
                yield from (i for i in item if isinstance(i, str))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def condition(text: str, modifier: str | None) -> ColumnElement[bool]:
    """SQL matching one string search value against `search_string` rows."""
    if modifier == "exact":
        return search_string.c.exact == text[:EXACT_LEN]
    needle = _escape_like(normalize(text)[:NORMALIZED_LEN])
    if modifier == "contains":
        return search_string.c.normalized.like(f"%{needle}%", escape="\\")
    if modifier is None:
        return search_string.c.normalized.like(f"{needle}%", escape="\\")
    raise bad_request(f"Modifier ':{modifier}' is not supported on string parameters")


def any_condition(values: list[str], modifier: str | None) -> ColumnElement[bool]:
    return or_(*(condition(v, modifier) for v in values))
