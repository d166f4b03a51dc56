"""Every definition of the platform as FHIR resources: read by id, searched by url or id.

The catalogue is built once from the declarations (nothing is stored: the definitions are
code, released with it), so reads and searches are lookups in memory. A search takes
`_id` and `url` (canonical, optionally `url|version`) -- `value` instead of `url` on
NamingSystem, whose R4 form has no url -- commas OR-ing values, repeated parameters
AND-ing; anything else is refused as the services refuse an unknown parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.fhir.conformance.measure import measure
from shared.fhir.conformance.model import (
    DEFINITION_TYPES,
    CodeSystemDefinition,
    Definition,
    ExtensionDefinition,
    MeasureDefinition,
    NamingSystemDefinition,
)
from shared.fhir.conformance.operation_definition import operation_definition
from shared.fhir.conformance.structure_definition import structure_definition
from shared.fhir.conformance.terminology import code_system, naming_system
from shared.fhir.outcomes import bad_request, not_found

Resource = dict[str, Any]
# Parameters about the answer's format, handled where the answer is written.
FORMAT_PARAMS = frozenset({"_format", "_pretty"})
_PARAMS: dict[str, tuple[str, ...]] = {
    "StructureDefinition": ("_id", "url"),
    "CodeSystem": ("_id", "url"),
    "NamingSystem": ("_id", "value"),
    "OperationDefinition": ("_id", "url"),
    "Measure": ("_id", "url"),
}
_MODIFIERS: dict[str, frozenset[str]] = {"value": frozenset({"exact"})}


def conformance_resource(definition: Definition, *, version: str, date: str) -> Resource:
    """The FHIR resource of one declaration."""
    if isinstance(definition, ExtensionDefinition):
        return structure_definition(definition, version=version, date=date)
    if isinstance(definition, CodeSystemDefinition):
        return code_system(definition, version=version, date=date)
    if isinstance(definition, NamingSystemDefinition):
        return naming_system(definition, date=date)
    if isinstance(definition, MeasureDefinition):
        return measure(definition, version=version, date=date)
    return operation_definition(definition, version=version, date=date)


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    modifier: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    """The definitions of `definitions`, as version `version` published on `date`."""

    definitions: tuple[Definition, ...]
    version: str
    date: str
    _by_type: dict[str, dict[str, Resource]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_type: dict[str, dict[str, Resource]] = {t: {} for t in DEFINITION_TYPES}
        urls: set[str] = set()
        for definition in self.definitions:
            same_type = by_type[definition.resource_type]
            if definition.id in same_type or definition.url in urls:
                raise ValueError(f"{definition.url} is declared twice (or its id is taken)")
            urls.add(definition.url)
            same_type[definition.id] = conformance_resource(
                definition, version=self.version, date=self.date
            )
        object.__setattr__(self, "_by_type", by_type)

    @property
    def urls(self) -> frozenset[str]:
        """Every URL declared (a NamingSystem's: its identifier system)."""
        return frozenset(d.url for d in self.definitions)

    def of_type(self, resource_type: str) -> list[Resource]:
        """The resources of `resource_type`, by id."""
        return [r for _, r in sorted(self._by_type[resource_type].items())]

    def read(self, resource_type: str, resource_id: str) -> Resource:
        """The resource `resource_type/resource_id`; 404 when it is not declared."""
        found = self._by_type[resource_type].get(resource_id)
        if found is None:
            raise not_found(f"{resource_type}/{resource_id} is not a definition of this server")
        return found

    def search(
        self, resource_type: str, params: Iterable[tuple[str, str]], *, lenient: bool = False
    ) -> tuple[list[Resource], list[tuple[str, str]]]:
        """The resources matching `params`, and the parameters used (for the self link;
        unknown ones are dropped when `lenient`, else refused)."""
        criteria, used = self._criteria(resource_type, params, lenient=lenient)
        matches = [
            r for r in self.of_type(resource_type) if all(self._matches(r, c) for c in criteria)
        ]
        return matches, used

    def _criteria(
        self, resource_type: str, params: Iterable[tuple[str, str]], *, lenient: bool
    ) -> tuple[list[Criterion], list[tuple[str, str]]]:
        criteria: list[Criterion] = []
        used: list[tuple[str, str]] = []
        for key, raw in params:
            if key in FORMAT_PARAMS:
                continue
            name, _, modifier = key.partition(":")
            known = name in _PARAMS[resource_type]
            if not known or (modifier and modifier not in _MODIFIERS.get(name, ())):
                if lenient:
                    continue
                what = "modifier" if known else "parameter"
                raise bad_request(f"Unknown search {what} '{key}' for {resource_type}", key)
            used.append((key, raw))
            values = tuple(v for v in raw.split(",") if v)
            if values:  # an empty value asks for nothing
                criteria.append(Criterion(name, modifier or None, values))
        return criteria, used

    def _matches(self, resource: Resource, criterion: Criterion) -> bool:
        if criterion.name == "_id":
            return resource["id"] in criterion.values
        if criterion.name == "url":
            return any(self._canonical_matches(resource, value) for value in criterion.values)
        systems = [unique["value"] for unique in resource["uniqueId"]]  # NamingSystem value
        if criterion.modifier == "exact":
            return any(system in criterion.values for system in systems)
        return any(s.lower().startswith(v.lower()) for s in systems for v in criterion.values)

    def _canonical_matches(self, resource: Resource, value: str) -> bool:
        url, _, version = value.partition("|")
        return resource["url"] == url and version in ("", self.version)
