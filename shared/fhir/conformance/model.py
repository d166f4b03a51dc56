"""The platform's own definitions, declared once in Python: extensions, code systems,
identifier systems, operations and measures.

Each declaration becomes a FHIR R4 conformance resource (StructureDefinition, CodeSystem,
NamingSystem, OperationDefinition, Measure; see the builders beside this module), served read-only
at the front door and listed in docs/fhir.md. A URL a service writes into a resource is
declared here, under the platform's canonical base, so that a client can resolve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.fhir.canonical import CANONICAL_BASE

_UNBOUNDED = "*"


def _tail(url: str, kind: str) -> str:
    """The last segment of `url`, after checking it lies under `{CANONICAL_BASE}/{kind}/`."""
    prefix = f"{CANONICAL_BASE}/{kind}/"
    name = url.removeprefix(prefix)
    if name == url or not name or "/" in name:
        raise ValueError(f"{url} is not a URL under {prefix}")
    return name


def _pascal(name: str) -> str:
    """`ordering-facility` -> `OrderingFacility` (a FHIR computer-friendly name)."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


def _check_cardinality(min_: int, max_: str, what: str) -> None:
    if max_ != _UNBOUNDED and (not max_.isdigit() or int(max_) < min_):
        raise ValueError(f"{what}: cardinality {min_}..{max_} is not valid")


@dataclass(frozen=True, slots=True)
class Binding:
    """The codes a coded value takes: `strength` (required, extensible, preferred,
    example) of the ValueSet `value_set`."""

    strength: str
    value_set: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Value:
    """The type(s) of an extension's value: FHIR type codes (`code`, `Reference`,
    `Duration`, ...); for a Reference the resource types it may point to."""

    types: tuple[str, ...]
    targets: tuple[str, ...] = ()
    binding: Binding | None = None

    def __post_init__(self) -> None:
        if not self.types:
            raise ValueError("a value needs at least one type")
        if self.targets and "Reference" not in self.types:
            raise ValueError("reference targets need the Reference type")


@dataclass(frozen=True, slots=True)
class SubExtension:
    """One part of a complex extension, identified by a relative URL (`maxOpenTasks`)."""

    url: str
    short: str
    value: Value
    min: int = 0
    max: str = "1"

    def __post_init__(self) -> None:
        if not self.url or "/" in self.url or ":" in self.url:
            raise ValueError(f"sub-extension url {self.url!r} must be a plain name")
        _check_cardinality(self.min, self.max, self.url)


@dataclass(frozen=True, slots=True)
class ExtensionDefinition:
    """An extension: a simple one has a `value`, a complex one `parts` (sub-extensions).

    `contexts` are the element paths it may appear on (`ServiceRequest`,
    `Parameters.parameter`); `min`/`max` how often it appears there.
    """

    resource_type: ClassVar[str] = "StructureDefinition"

    url: str
    title: str
    description: str
    contexts: tuple[str, ...]
    value: Value | None = None
    parts: tuple[SubExtension, ...] = ()
    min: int = 0
    max: str = "1"

    def __post_init__(self) -> None:
        _tail(self.url, self.resource_type)
        if (self.value is None) == (not self.parts):
            raise ValueError(f"{self.url}: give either a value or parts (sub-extensions)")
        if not self.contexts:
            raise ValueError(f"{self.url}: an extension needs at least one context")
        names = [part.url for part in self.parts]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.url}: sub-extension names repeat")
        _check_cardinality(self.min, self.max, self.url)

    @property
    def id(self) -> str:
        return _tail(self.url, self.resource_type)

    @property
    def name(self) -> str:
        return _pascal(self.id)


@dataclass(frozen=True, slots=True)
class Concept:
    """One code of a code system."""

    code: str
    display: str
    definition: str


@dataclass(frozen=True, slots=True)
class CodeSystemDefinition:
    """A code system the platform defines, with every one of its codes."""

    resource_type: ClassVar[str] = "CodeSystem"

    url: str
    title: str
    description: str
    concepts: tuple[Concept, ...]

    def __post_init__(self) -> None:
        _tail(self.url, self.resource_type)
        codes = self.codes
        if not codes or len(codes) != len(set(codes)):
            raise ValueError(f"{self.url}: codes must be given, each once")

    @property
    def id(self) -> str:
        return _tail(self.url, self.resource_type)

    @property
    def name(self) -> str:
        return _pascal(self.id)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(concept.code for concept in self.concepts)


@dataclass(frozen=True, slots=True)
class NamingSystemDefinition:
    """An identifier system (`Identifier.system`) the platform defines: `value` is the
    system URI; its resource id is the URI's last segment."""

    resource_type: ClassVar[str] = "NamingSystem"

    value: str
    title: str
    description: str
    usage: str = ""

    def __post_init__(self) -> None:
        if not self.value.startswith(f"{CANONICAL_BASE}/"):
            raise ValueError(f"{self.value} is not under {CANONICAL_BASE}")

    @property
    def url(self) -> str:
        """The URI the system is known by (R4 NamingSystem has no `url`: its uniqueId)."""
        return self.value

    @property
    def id(self) -> str:
        return self.value.rstrip("/").rsplit("/", 1)[1]

    @property
    def name(self) -> str:
        return _pascal(self.id)


@dataclass(frozen=True, slots=True)
class OperationParameter:
    """One parameter of an operation: `use` in or out; a `type` or, for a group, `parts`."""

    name: str
    use: str
    documentation: str
    type: str | None = None
    min: int = 0
    max: str = "1"
    parts: tuple[OperationParameter, ...] = ()

    def __post_init__(self) -> None:
        if self.use not in ("in", "out"):
            raise ValueError(f"{self.name}: use is in or out")
        if (self.type is None) == (not self.parts):
            raise ValueError(f"{self.name}: give either a type or parts")
        _check_cardinality(self.min, self.max, self.name)


@dataclass(frozen=True, slots=True)
class OperationDefinition:
    """An `$operation` the platform serves: at the system level, on a type or an instance
    of `resources`."""

    resource_type: ClassVar[str] = "OperationDefinition"

    url: str
    title: str
    description: str
    code: str
    parameters: tuple[OperationParameter, ...]
    system: bool = False
    resources: tuple[str, ...] = ()
    type: bool = False
    instance: bool = False
    affects_state: bool = False

    def __post_init__(self) -> None:
        _tail(self.url, self.resource_type)
        if not (self.system or self.type or self.instance):
            raise ValueError(f"{self.url}: served at the system, type or instance level")
        if (self.type or self.instance) and not self.resources:
            raise ValueError(f"{self.url}: a type or instance operation names its resources")

    @property
    def id(self) -> str:
        return _tail(self.url, self.resource_type)

    @property
    def name(self) -> str:
        return _pascal(self.id)


@dataclass(frozen=True, slots=True)
class MeasureDefinition:
    """A measure the platform reports on (MeasureReport.measure): its scoring, the
    populations of its one group (codes of the core measure-population system, with what
    each counts) and the stratifiers a report may use (codes of `stratifier_system`)."""

    resource_type: ClassVar[str] = "Measure"

    url: str
    title: str
    description: str
    scoring: str  # proportion | ratio | continuous-variable | cohort
    populations: tuple[Concept, ...]
    stratifier_system: str
    stratifiers: tuple[Concept, ...]
    improvement: str = "increase"

    def __post_init__(self) -> None:
        _tail(self.url, self.resource_type)
        if not self.populations:
            raise ValueError(f"{self.url}: a measure counts at least one population")

    @property
    def id(self) -> str:
        return _tail(self.url, self.resource_type)

    @property
    def name(self) -> str:
        return _pascal(self.id)


Definition = (
    ExtensionDefinition
    | CodeSystemDefinition
    | NamingSystemDefinition
    | OperationDefinition
    | MeasureDefinition
)
DEFINITION_TYPES: tuple[str, ...] = (
    "StructureDefinition",
    "CodeSystem",
    "NamingSystem",
    "OperationDefinition",
    "Measure",
)
