"""Extract the search index rows of one resource from its declared search parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.fhir.registry import ParamType, ResourceDefinition
from shared.fhir.search import date, reference, string, token
from shared.fhir.search.paths import values_at


@dataclass(slots=True)
class IndexRows:
    """Rows for each `search_*` table, without `resource_pk` (filled in on insert)."""

    token: list[dict[str, Any]] = field(default_factory=list)
    string: list[dict[str, Any]] = field(default_factory=list)
    date: list[dict[str, Any]] = field(default_factory=list)
    reference: list[dict[str, Any]] = field(default_factory=list)


def extract_index_rows(definition: ResourceDefinition, resource: dict[str, Any]) -> IndexRows:
    """Every index value of `resource`, de-duplicated per parameter."""
    rows = IndexRows()
    rtype = definition.type
    for param in definition.search_params:
        values = [v for path in param.paths for v in values_at(resource, path)]
        if param.type is ParamType.TOKEN:
            tokens = {(s, c) for v in values for s, c in token.extract(v) if c}
            rows.token += [
                {
                    "resource_type": rtype,
                    "param": param.name,
                    "system": s[: token.MAX_LEN] if s else None,
                    "code": c[: token.MAX_LEN],
                }
                for s, c in sorted(tokens, key=str)
            ]
        elif param.type is ParamType.STRING:
            texts = {t for v in values for t in string.extract(v) if t}
            rows.string += [
                {
                    "resource_type": rtype,
                    "param": param.name,
                    "normalized": string.normalize(t)[: string.NORMALIZED_LEN],
                    "exact": t[: string.EXACT_LEN],
                }
                for t in sorted(texts)
            ]
        elif param.type is ParamType.DATE:
            ranges = {r for v in values for r in date.extract(v)}
            rows.date += [
                {"resource_type": rtype, "param": param.name, "low": low, "high": high}
                for low, high in sorted(ranges)
            ]
        else:
            targets = {t for v in values for t in reference.extract(v, param.targets)}
            rows.reference += [
                {
                    "resource_type": rtype,
                    "param": param.name,
                    "target_type": target_type,
                    "target_id": target_id,
                }
                for target_type, target_id in sorted(targets, key=str)
            ]
    return rows
