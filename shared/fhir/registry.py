"""What a service serves: its resource types, their search parameters, includes and rules.

A service declares its `ResourceDefinition`s once; the REST API, the search indexes, the
CapabilityStatement and the OpenAPI are all generated from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from shared.fhir.outcomes import not_found

if TYPE_CHECKING:
    from shared.auth import Principal
    from shared.events.receipts import DeliveryHook
    from shared.events.topics import Topic
    from shared.fhir.storage.repository import FhirRepository, StoredResource
    from shared.peers import Peers


# The REST interactions a type may serve (CapabilityStatement codes).
ALL_INTERACTIONS: frozenset[str] = frozenset(
    {
        "read",
        "vread",
        "update",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    }
)
# Where a type's resources are kept: the service's own database, or the platform's shared,
# append-only audit log (AuditEvent; see shared/audit).
Store = Literal["service", "audit"]


class ParamType(StrEnum):
    TOKEN = "token"
    STRING = "string"
    DATE = "date"
    REFERENCE = "reference"


@dataclass(frozen=True, slots=True)
class SearchParam:
    """A search parameter over values found at `paths` (dotted JSON paths, lists flattened).

    For a reference parameter, `targets` limits which referenced types are indexed: the
    `patient` parameter of ServiceRequest indexes `subject` only where it is a Patient.
    """

    name: str
    type: ParamType
    paths: tuple[str, ...]
    description: str
    targets: tuple[str, ...] = ()
    definition: str | None = None  # canonical URL of the SearchParameter, when standard


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What business rules may consult about a write: the store, who writes, and the
    other services (None where no app runs, e.g. the seed)."""

    repository: FhirRepository
    principal: Principal
    peers: Peers | None = None
    # What a rule looked up while checking a write, for its `access_labels` to reuse.
    memo: dict[str, Any] = field(default_factory=dict)
    # The app's state (None outside an app): a service's rules may keep their own parts
    # there, e.g. assignment's engine.
    state: Any = None
    # What the writing service serves, for a rule that writes a resource of another of its
    # types alongside (e.g. reporting's signature of a report version).
    registry: Registry | None = None


class ResourceRules:
    """Business rules a service adds on top of the generic REST behaviour (default: none)."""

    async def prepare(
        self,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> None:
        """Check `resource` before it is written (raise a FhirError) and fill in defaults."""

    async def after_write(self, stored: StoredResource, *, context: WriteContext) -> None:
        """Follow up a create or update once the new version is stored, in the same
        transaction: `stored` carries its id and versionId (a failure rolls both back)."""

    async def before_delete(self, resource: dict[str, Any], *, context: WriteContext) -> None:
        """Check (raise a FhirError) or follow up a delete of `resource`, before it is stored."""

    async def access_labels(self, resource: dict[str, Any], *, context: WriteContext) -> set[str]:
        """Who may see this version (shared/fhir/access.py); `resource` carries its id.
        By default nobody confined to a tenant."""
        return set()

    async def find_resent(
        self, resource: dict[str, Any], *, repository: FhirRepository
    ) -> StoredResource | None:
        """The stored resource that `resource` re-sends, when a create is a duplicate."""
        return None


@dataclass(frozen=True)
class ResourceDefinition:
    """A resource type served by a service."""

    type: str
    search_params: tuple[SearchParam, ...] = ()
    # "_include" values allowed on a search of this type, e.g. "ServiceRequest:subject".
    includes: tuple[str, ...] = ()
    # "_revinclude" values allowed on a search of this type, e.g. "ImagingStudy:basedon".
    revincludes: tuple[str, ...] = ()
    rules: ResourceRules = field(default_factory=ResourceRules)
    # Business identifiers kept unique: a create that re-sends one returns the holder.
    unique_keys: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None
    documentation: str = ""
    # The interactions served: routes, CapabilityStatement and Bundle entries follow it.
    interactions: frozenset[str] = ALL_INTERACTIONS
    store: Store = "service"
    # The `_sort` of a search that names none (e.g. "-date": newest first).
    default_sort: str | None = None
    # `$operations` on this type or its instances (`[type]/$name`, `[type]/{id}/$name`),
    # listed under the type in the CapabilityStatement; the service mounts their routes.
    operations: tuple[Operation, ...] = ()

    def serves(self, interaction: str) -> bool:
        """Whether `interaction` (a CapabilityStatement code) is served on this type."""
        return interaction in self.interactions

    def param(self, name: str) -> SearchParam | None:
        for p in self.search_params:
            if p.name == name:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Operation:
    """An `$operation` a service serves: at its FHIR base (`Registry.operations`, e.g.
    `$turnaround`) or on a type or its instances (`ResourceDefinition.operations`, e.g.
    `DiagnosticReport/{id}/$verify`)."""

    name: str  # without the "$"
    definition: str  # canonical URL of its OperationDefinition
    documentation: str


@dataclass(frozen=True)
class Registry:
    """All resource types one service serves."""

    service: str
    definitions: tuple[ResourceDefinition, ...]
    topics: tuple[Topic, ...] = ()
    operations: tuple[Operation, ...] = ()
    # Called once a subscriber accepted an event notification, with the events and the
    # subscription's access labels (shared/events/receipts.py): best effort, idempotent.
    delivery_receipt: DeliveryHook | None = None
    _by_type: dict[str, ResourceDefinition] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_type", {d.type: d for d in self.definitions})

    @property
    def types(self) -> Iterable[str]:
        return self._by_type.keys()

    def get(self, resource_type: str) -> ResourceDefinition | None:
        return self._by_type.get(resource_type)

    def topic(self, url: str) -> Topic | None:
        return next((t for t in self.topics if t.url == url), None)

    def require(self, resource_type: str) -> ResourceDefinition:
        definition = self._by_type.get(resource_type)
        if definition is None:
            raise not_found(f"Resource type '{resource_type}' is not served here")
        return definition


def token(name: str, *paths: str, description: str, definition: str | None = None) -> SearchParam:
    return SearchParam(name, ParamType.TOKEN, paths, description, definition=definition)


def string(name: str, *paths: str, description: str, definition: str | None = None) -> SearchParam:
    return SearchParam(name, ParamType.STRING, paths, description, definition=definition)


def date(name: str, *paths: str, description: str, definition: str | None = None) -> SearchParam:
    return SearchParam(name, ParamType.DATE, paths, description, definition=definition)


def reference(
    name: str,
    *paths: str,
    targets: tuple[str, ...],
    description: str,
    definition: str | None = None,
) -> SearchParam:
    return SearchParam(
        name, ParamType.REFERENCE, paths, description, targets=targets, definition=definition
    )
