"""Parse a search's query parameters into a `SearchRequest`, refusing what it can't honour."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from shared.fhir.outcomes import bad_request, not_supported
from shared.fhir.registry import ParamType, ResourceDefinition, SearchParam

# Result and format parameters: not criteria.
CONTROL_PARAMS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_total",
        "_totalMethod",
        "_format",
        "_pretty",
        "_page",
        "_elements",
    }
)
_ID_PARAM = SearchParam("_id", ParamType.TOKEN, (), "Logical id of the resource")
_LAST_UPDATED = SearchParam("_lastUpdated", ParamType.DATE, (), "When the resource last changed")
COMMON_PARAMS = {p.name: p for p in (_ID_PARAM, _LAST_UPDATED)}
_MODIFIERS: dict[ParamType, frozenset[str]] = {
    ParamType.TOKEN: frozenset({"not", "missing"}),
    ParamType.STRING: frozenset({"exact", "contains", "missing"}),
    ParamType.DATE: frozenset({"missing"}),
    ParamType.REFERENCE: frozenset({"missing"}),
}
_SPLIT_RE = re.compile(r"(?<!\\),")

Total = Literal["none", "estimate", "accurate"]


@dataclass(frozen=True, slots=True)
class Criterion:
    """One parameter occurrence: values are OR-ed; criteria are AND-ed."""

    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]

    @property
    def expression(self) -> str:
        return self.param.name + (f":{self.modifier}" if self.modifier else "")


@dataclass(frozen=True, slots=True)
class SortKey:
    param: SearchParam
    descending: bool


@dataclass(frozen=True, slots=True)
class Include:
    """`_include` / `_revinclude` of `source_type:param[:target_type]`."""

    source_type: str
    param: str
    target_type: str | None

    def __str__(self) -> str:
        suffix = f":{self.target_type}" if self.target_type else ""
        return f"{self.source_type}:{self.param}{suffix}"


@dataclass(slots=True)
class SearchRequest:
    criteria: list[Criterion] = field(default_factory=list)
    count: int = 20
    sort: list[SortKey] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary_count: bool = False
    total: Total | None = None
    page: str | None = None
    # Parameters as understood, in the form used for self/next/previous links.
    link_params: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def split_values(text: str) -> tuple[str, ...]:
    """Comma-separated OR values, honouring `\\,` escapes."""
    return tuple(v.replace("\\,", ",") for v in _SPLIT_RE.split(text))


def _parse_int(name: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise bad_request(f"'{name}' must be a non-negative integer", name)
    return int(text)


def _parse_include(text: str, name: str) -> Include:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise bad_request(f"'{name}' takes SourceType:param[:TargetType]", name)
    return Include(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True, slots=True)
class SearchLimits:
    default_count: int
    max_count: int


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


def parse_search(
    definition: ResourceDefinition,
    items: list[tuple[str, str]],
    *,
    limits: SearchLimits,
    lenient: bool,
) -> SearchRequest:
    """Turn query items into a SearchRequest; unknown parameters are errors unless lenient."""
    request = SearchRequest(count=limits.default_count)
    for key, raw in items:
        if _CONTROL.search(key) or _CONTROL.search(raw):
            # No stored value holds one, and PostgreSQL text cannot even compare with NUL.
            raise bad_request("Search parameters may not contain control characters", key[:64])
        name, _, modifier = key.partition(":")
        if name in ("_format", "_pretty"):
            continue
        if name == "_page":
            request.page = raw
            continue
        if name in CONTROL_PARAMS:
            _apply_control(definition, request, name, raw, limits)
            # The links state the page size used, which the server maximum may have capped.
            request.link_params.append((key, str(request.count) if name == "_count" else raw))
            continue
        param = COMMON_PARAMS.get(name) or definition.param(name)
        if param is None or (modifier and not _modifier_ok(param, modifier)):
            if lenient:
                request.ignored.append(key)
                continue
            if param is None:
                raise bad_request(f"Unknown search parameter '{name}' for {definition.type}", key)
            raise not_supported(f"Modifier ':{modifier}' is not supported on '{name}'", key)
        request.criteria.append(Criterion(param, modifier or None, split_values(raw)))
        request.link_params.append((key, raw))
    return request


def _modifier_ok(param: SearchParam, modifier: str) -> bool:
    if param.name in COMMON_PARAMS:
        return param.name == "_id" and modifier == "not"
    if param.type is ParamType.REFERENCE and modifier[:1].isupper():
        return modifier in param.targets or not param.targets
    return modifier in _MODIFIERS[param.type]


def _apply_control(
    definition: ResourceDefinition,
    request: SearchRequest,
    name: str,
    raw: str,
    limits: SearchLimits,
) -> None:
    if name == "_count":
        request.count = min(_parse_int(name, raw), limits.max_count)
    elif name == "_sort":
        request.sort = [_sort_key(definition, part) for part in raw.split(",") if part]
    elif name == "_include":
        include = _parse_include(raw, name)
        param = definition.param(include.param)
        targets = param.targets if param else ()
        if include.source_type != definition.type or str(include) not in _allowed(
            definition.includes, include, targets
        ):
            raise not_supported(f"_include={raw} is not supported on {definition.type}", name)
        request.includes.append(include)
    elif name == "_revinclude":
        include = _parse_include(raw, name)
        if str(include) not in _allowed(definition.revincludes, include, (definition.type,)):
            raise not_supported(f"_revinclude={raw} is not supported on {definition.type}", name)
        request.revincludes.append(include)
    elif name == "_summary":
        if raw == "count":
            request.summary_count = True
        elif raw != "false":
            raise not_supported(f"_summary={raw} is not supported (use count or false)", name)
    elif name == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise bad_request("_total must be none, estimate or accurate", name)
        request.total = raw  # type: ignore[assignment]
    elif name == "_totalMethod":  # what fhirpy's count() sends; read as _total
        if raw not in ("count", "estimate"):
            raise bad_request("_totalMethod must be count or estimate", name)
        request.total = "accurate" if raw == "count" else "estimate"
    else:  # _elements
        raise not_supported(f"'{name}' is not supported", name)


def _allowed(declared: tuple[str, ...], include: Include, targets: tuple[str, ...]) -> set[str]:
    """Declared pairs, each also allowed with an explicit target type among `targets` (the
    types the parameter can point to, any when empty; for _revinclude, the type searched)."""
    allowed = set(declared)
    pair = f"{include.source_type}:{include.param}"
    target_ok = not targets or include.target_type in targets
    if include.target_type and target_ok and pair in declared:
        allowed.add(str(include))
    return allowed


def _sort_key(definition: ResourceDefinition, text: str) -> SortKey:
    descending = text.startswith("-")
    name = text.lstrip("-")
    param = COMMON_PARAMS.get(name) or definition.param(name)
    if param is None or param.type is ParamType.REFERENCE:
        raise not_supported(f"Sorting by '{name}' is not supported on {definition.type}", "_sort")
    return SortKey(param, descending)
