"""Token search: `[system]|[code]`, `code`, `|code`, `system|`; modifier `:not`.

Indexed from Coding, CodeableConcept, Identifier, ContactPoint, code and boolean values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_

from shared.fhir.storage.tables import search_token

MAX_LEN = 255


def extract(value: Any) -> Iterator[tuple[str | None, str]]:
    """(system, code) pairs for one element value."""
    if isinstance(value, bool):
        yield None, "true" if value else "false"
    elif isinstance(value, str):
        yield None, value
    elif isinstance(value, dict):
        if "coding" in value:  # CodeableConcept
            for coding in value.get("coding") or []:
                yield from extract(coding)
        elif "code" in value:  # Coding
            yield value.get("system"), value["code"]
        elif "value" in value:  # Identifier, ContactPoint
            yield value.get("system"), str(value["value"])


def split_token(text: str) -> tuple[str | None, str | None, bool]:
    """(system, code, system_given) from a token search value."""
    if "|" not in text:
        return None, text or None, False
    system, code = text.split("|", 1)
    return (system or None), (code or None), True


def condition(text: str) -> ColumnElement[bool]:
    """SQL matching one token search value against `search_token` rows."""
    system, code, system_given = split_token(text)
    clauses: list[ColumnElement[bool]] = []
    if code is not None:
        clauses.append(search_token.c.code == code[:MAX_LEN])
    if system_given:
        clauses.append(
            search_token.c.system.is_(None) if system is None else search_token.c.system == system
        )
    if not clauses:
        return false()
    return and_(*clauses) if len(clauses) > 1 else clauses[0]


def any_condition(values: list[str]) -> ColumnElement[bool]:
    return or_(*(condition(v) for v in values))
