"""FHIR REST semantics over the repository: one implementation for every resource type.

Create, read, vread, update, delete (plain and conditional), search and history, as the
FHIR R4 HTTP page describes them. The API layer and Bundle processing both call this, so
a transaction entry behaves exactly like the same request on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.fhir.access import presented, require_own
from shared.fhir.outcomes import (
    bad_request,
    business_rule,
    conflict,
    gone,
    method_not_allowed,
    multiple_matches,
    not_found,
    precondition_failed,
)
from shared.fhir.references import iter_references
from shared.fhir.registry import Registry, ResourceDefinition, WriteContext
from shared.fhir.search import reference as reference_search
from shared.fhir.search.execute import SearchResult, run_search
from shared.fhir.search.query import ordering
from shared.fhir.search.request import SearchLimits, parse_search
from shared.fhir.storage.repository import FhirRepository, StoredResource
from shared.fhir.validation import validate_resource
from shared.peers import Peers

_MAX_VERSION_ID = 2**31 - 1  # versions are stored as 32-bit INTEGERs


MAX_IDENTIFIER_LENGTH = 255  # the width of the unique_identifier columns


def now_utc() -> datetime:
    """The server's clock at millisecond precision (what meta.lastUpdated shows)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_etag(value: str | None) -> int | None:
    """The version in an If-Match value such as W/"3"; None when absent."""
    if value is None:
        return None
    text = value.strip()
    text = text.removeprefix("W/").strip('"')
    if not text.isdigit():
        raise bad_request('If-Match must be a version ETag such as W/"3"', "If-Match")
    return int(text)


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored: StoredResource
    created: bool  # 201 rather than 200
    resent: bool = False  # an existing resource was returned instead of creating


class FhirService:
    """FHIR interactions for one request, on behalf of one principal."""

    def __init__(
        self,
        *,
        session: AsyncSession,
        registry: Registry,
        principal: Principal,
        limits: SearchLimits,
        base_url: str,
        peers: Peers | None = None,
        state: Any = None,
    ) -> None:
        self.repository = FhirRepository(session, access=principal.access_keys)
        self.peers = peers
        self.state = state  # the app's state, for rules that need a service's own parts
        self.registry = registry
        self.principal = principal
        self.limits = limits
        self.base_url = base_url

    # -- reads ----------------------------------------------------------------------

    async def read(self, resource_type: str, resource_id: str) -> StoredResource:
        """The current version; 404 if unknown, 410 if deleted."""
        self.registry.require(resource_type)
        self.principal.require(resource_type, "r")
        stored = await self.repository.current(resource_type, resource_id)
        if stored is None:
            raise not_found(f"{resource_type}/{resource_id} is not known")
        if stored.deleted:
            raise gone(f"{resource_type}/{resource_id} was deleted")
        return self.presented(stored)

    def presented(self, stored: StoredResource) -> StoredResource:
        """`stored` as this caller is shown it (shared/fhir/access.py: minimum necessary)."""
        return presented(stored, self.principal.role)

    async def vread(self, resource_type: str, resource_id: str, version: str) -> StoredResource:
        """One version; 404 if unknown, 410 if that version is a deletion."""
        self.registry.require(resource_type)
        self.principal.require(resource_type, "r")
        stored = (
            await self.repository.version(resource_type, resource_id, int(version))
            if version.isascii() and version.isdigit() and int(version) <= _MAX_VERSION_ID
            else None
        )
        if stored is None:
            raise not_found(f"{resource_type}/{resource_id} has no version {version}")
        if stored.deleted:
            raise gone(f"Version {version} of {resource_type}/{resource_id} is a deletion")
        return self.presented(stored)

    async def search(
        self,
        resource_type: str,
        items: list[tuple[str, str]],
        *,
        lenient: bool = False,
        include_max: int = 500,
    ) -> SearchResult:
        """One page of a search, with its includes and paging tokens."""
        definition = self.registry.require(resource_type)
        self.principal.require(resource_type, "s")
        request = parse_search(definition, items, limits=self.limits, lenient=lenient)
        for include in request.includes + request.revincludes:
            self.principal.require(include.source_type, "s")
        result = await run_search(
            self.repository,
            resource_type,
            request,
            served=set(self.registry.types),
            include_max=include_max,
        )
        result.matches = [self.presented(stored) for stored in result.matches]
        result.included = [self.presented(stored) for stored in result.included]
        return result

    async def match_ids(self, resource_type: str, query: str) -> list[StoredResource]:
        """Resources matching a conditional-interaction query string (at most two)."""
        definition = self.registry.require(resource_type)
        items = parse_qsl(query, keep_blank_values=True)
        if not items:
            raise bad_request("A conditional interaction needs search criteria")
        request = parse_search(definition, items, limits=self.limits, lenient=False)
        request.count = 2
        rows = await self.repository.search_page(
            resource_type, request, ordering(resource_type, request), None
        )
        return await self.repository.by_ids(resource_type, [row.id for row in rows])

    # -- writes ---------------------------------------------------------------------

    async def create(
        self,
        resource_type: str,
        body: Any,
        *,
        if_none_exist: str | None = None,
        assigned_id: str | None = None,
    ) -> WriteResult:
        """Create with a server-assigned id (201), or return the match of a conditional
        or re-sent create (200). `assigned_id` is the id a transaction picked in advance."""
        definition = self.registry.require(resource_type)
        self.principal.require(resource_type, "c")
        resource = validate_resource(body, resource_type)
        if if_none_exist:
            await self.repository.lock(f"{resource_type}?{if_none_exist}")
            matches = await self.match_ids(resource_type, if_none_exist)
            if len(matches) > 1:
                raise multiple_matches("If-None-Exist matches more than one resource")
            if matches:
                return WriteResult(matches[0], created=False, resent=True)
        context = self._write_context()
        keys = await self._prepare(definition, resource, previous=None, context=context)
        resource_id = assigned_id or str(uuid4())
        if keys:
            holder = await self.repository.identifier_owner(resource_type, keys)
            if holder is None:
                holder = await self.repository.claim_identifiers(
                    resource_type, resource_id, keys, new_id=assigned_id is None
                )
            if holder is not None:
                return WriteResult(await self._resent(resource_type, holder), False, resent=True)
        moment = now_utc()
        stored_resource = with_server_meta(resource, resource_id, 1, moment)
        labels = await self._labels(definition, stored_resource, context)
        stored = await self.repository.insert(
            definition, stored_resource, last_updated=moment, labels=labels
        )
        await definition.rules.after_write(stored, context=context)
        return WriteResult(stored, created=True)

    async def _resent(self, resource_type: str, holder: str) -> StoredResource:
        """The resource a create re-sends; one outside the caller's tenant is a clash."""
        stored = await self.repository.current(resource_type, holder)
        if stored is None or stored.deleted:
            raise conflict(f"An identifier of this {resource_type} is already in use")
        return stored

    async def update(
        self,
        resource_type: str,
        resource_id: str,
        body: Any,
        *,
        if_match: str | None = None,
    ) -> WriteResult:
        """Write a new version of an existing resource (a deleted one comes back)."""
        definition = self.registry.require(resource_type)
        self.principal.require(resource_type, "u")
        resource = validate_resource(body, resource_type)
        if resource.get("id") != resource_id:
            raise bad_request(
                "The resource id must be present and equal the id in the URL",
                f"{resource_type}.id",
            )
        previous = await self.repository.current(resource_type, resource_id, for_update=True)
        if previous is None:
            raise method_not_allowed(
                f"{resource_type}/{resource_id} does not exist and ids are assigned by "
                "the server: create it with POST"
            )
        expected = parse_etag(if_match)
        if expected is not None and expected != previous.version_id:
            raise precondition_failed(
                f"If-Match expects version {expected} but the current version is "
                f"{previous.version_id}"
            )
        return await self._write_version(definition, previous, resource)

    async def _write_version(
        self, definition: ResourceDefinition, previous: StoredResource, resource: dict[str, Any]
    ) -> WriteResult:
        before = None if previous.deleted else previous.resource()
        context = self._write_context()
        keys = await self._prepare(definition, resource, previous=before, context=context)
        if definition.unique_keys:
            holder = await self.repository.claim_identifiers(definition.type, previous.id, keys)
            if holder is not None:
                raise conflict(
                    f"An identifier of this {definition.type} already belongs to "
                    f"{definition.type}/{holder}"
                )
        moment = now_utc()
        stored_resource = with_server_meta(resource, previous.id, previous.version_id + 1, moment)
        stored = await self.repository.replace(
            definition,
            previous,
            stored_resource,
            last_updated=moment,
            method="PUT",
            labels=await self._labels(definition, stored_resource, context),
        )
        await definition.rules.after_write(stored, context=context)
        return WriteResult(stored, created=False)

    async def conditional_update(
        self, resource_type: str, query: str, body: Any, *, if_match: str | None = None
    ) -> WriteResult:
        """PUT Type?criteria: create when nothing matches, update the one match, else 412."""
        self.registry.require(resource_type)
        self.principal.require(resource_type, "u")
        await self.repository.lock(f"{resource_type}?{query}")
        matches = await self.match_ids(resource_type, query)
        if len(matches) > 1:
            raise multiple_matches("The conditional update matches more than one resource")
        if not matches:
            if isinstance(body, dict):
                body.pop("id", None)
            return await self.create(resource_type, body)
        target = matches[0]
        if isinstance(body, dict) and body.get("id") not in (None, target.id):
            raise bad_request(
                "The resource id does not match the resource found by the criteria",
                f"{resource_type}.id",
            )
        if isinstance(body, dict):
            body["id"] = target.id
        return await self.update(resource_type, target.id, body, if_match=if_match)

    async def delete(
        self, resource_type: str, resource_id: str, *, if_match: str | None = None
    ) -> StoredResource | None:
        """Soft-delete (history kept); None when already deleted."""
        definition = self.registry.require(resource_type)
        self.principal.require(resource_type, "d")
        previous = await self.repository.current(resource_type, resource_id, for_update=True)
        if previous is None:
            raise not_found(f"{resource_type}/{resource_id} is not known")
        expected = parse_etag(if_match)
        if expected is not None and expected != previous.version_id:
            raise precondition_failed(
                f"If-Match expects version {expected} but the current version is "
                f"{previous.version_id}"
            )
        if previous.deleted:
            return None
        await definition.rules.before_delete(previous.resource(), context=self._write_context())
        await self.repository.release_identifiers(resource_type, resource_id)
        return await self.repository.replace(
            definition, previous, None, last_updated=now_utc(), method="DELETE"
        )

    async def conditional_delete(self, resource_type: str, query: str) -> StoredResource | None:
        """DELETE Type?criteria: deletes the one match; 412 when several match."""
        self.registry.require(resource_type)
        self.principal.require(resource_type, "d")
        matches = await self.match_ids(resource_type, query)
        if len(matches) > 1:
            raise multiple_matches("The conditional delete matches more than one resource")
        if not matches:
            return None
        return await self.delete(resource_type, matches[0].id)

    async def _prepare(
        self,
        definition: ResourceDefinition,
        resource: dict[str, Any],
        *,
        previous: dict[str, Any] | None,
        context: WriteContext,
    ) -> list[tuple[str, str]]:
        """Checks every write passes before it is stored: no unresolved urn references, the
        service's rules, references that resolve (among what the caller may see); returns
        the identifiers kept unique."""
        for expression, element in iter_references(resource, definition.type):
            if element["reference"].startswith("urn:"):
                raise bad_request(
                    "urn references resolve only inside a transaction Bundle", expression
                )
        await definition.rules.prepare(resource, previous=previous, context=context)
        await self._check_references(resource, previous)
        keys = definition.unique_keys(resource) if definition.unique_keys else []
        if any(len(part) > MAX_IDENTIFIER_LENGTH for key in keys for part in key):
            raise bad_request(
                f"Identifier systems and values are limited to {MAX_IDENTIFIER_LENGTH} characters",
                f"{definition.type}.identifier",
            )
        return sorted(keys)  # one order everywhere, so concurrent claims cannot deadlock

    def _write_context(self) -> WriteContext:
        return WriteContext(
            self.repository, self.principal, self.peers, state=self.state, registry=self.registry
        )

    async def _labels(
        self, definition: ResourceDefinition, resource: dict[str, Any], context: WriteContext
    ) -> set[str]:
        """The access labels of the version about to be written -- one of them the writer's
        own, so that nothing is ever written into another tenant."""
        labels = await definition.rules.access_labels(resource, context=context)
        require_own(self.principal.access_keys, labels, definition.type)
        return labels

    async def _check_references(
        self, resource: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        """Every reference to a type stored here must name an existing resource -- one the
        caller may see. A reference the current version already holds is not asked again:
        it was checked when written, and an update passing it on unchanged (e.g. a reader's
        status change keeping the contract the platform named) changes nothing it names."""
        kept = {
            element["reference"]
            for _, element in iter_references(previous or {}, resource["resourceType"])
        }
        wanted: dict[tuple[str, str], str] = {}
        for expression, element in iter_references(resource, resource["resourceType"]):
            text = element["reference"]
            if text.startswith("#") or text in kept:
                continue
            parsed = reference_search.parse(text)
            if parsed is None or parsed[0] is None:
                continue
            if text.startswith(("http://", "https://")) and not text.startswith(self.base_url):
                continue  # a resource on another server
            if self.registry.get(parsed[0]) is not None:
                wanted.setdefault((parsed[0], parsed[1]), expression)
        found = await self.repository.existing(set(wanted))
        missing = [expr for key, expr in wanted.items() if key not in found]
        if missing:
            raise business_rule("The referenced resource does not exist", missing)


async def store_alongside(
    context: WriteContext, resource: dict[str, Any], *, labels: set[str]
) -> StoredResource:
    """Store a new resource that a rule writes beside the one being written (e.g. the
    signature of a report version), in the same transaction: validated, given its id and
    meta, indexed and announced like any create, visible to whoever sees `labels`."""
    if context.registry is None:
        raise RuntimeError("store_alongside needs the writing service's registry")
    definition = context.registry.require(resource["resourceType"])
    validate_resource(resource, definition.type)
    moment = now_utc()
    stored_resource = with_server_meta(resource, str(uuid4()), 1, moment)
    return await context.repository.unconfined().insert(
        definition, stored_resource, last_updated=moment, labels=labels
    )


def with_server_meta(
    resource: dict[str, Any], resource_id: str, version_id: int, moment: datetime
) -> dict[str, Any]:
    """The resource as stored: server id, versionId and lastUpdated; client values ignored."""
    meta = {
        k: v
        for k, v in (resource.get("meta") or {}).items()
        if k not in ("versionId", "lastUpdated")
    }
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = format_instant(moment)
    stored = {"resourceType": resource["resourceType"], "id": resource_id, "meta": meta}
    stored.update((k, v) for k, v in resource.items() if k not in ("resourceType", "id", "meta"))
    return stored
