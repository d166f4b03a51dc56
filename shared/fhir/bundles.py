"""Transaction and batch Bundles (https://hl7.org/fhir/R4/http.html#transaction).

A transaction is atomic: every entry succeeds or nothing is written. Entries are processed
in the order the specification gives -- DELETE, POST, PUT, GET -- and `urn:uuid:` fullUrls of
created resources are replaced by the ids they receive before anything is written, so that
entries may reference each other. Conditional references (`Patient?identifier=...`) are
resolved by search. A batch runs each entry on its own, in a savepoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl
from uuid import uuid4

import orjson

from shared.audit.trail import Access, accessed, patients_of, searched
from shared.fhir.outcomes import (
    FhirError,
    bad_request,
    method_not_allowed,
    multiple_matches,
    not_found,
)
from shared.fhir.references import iter_references
from shared.fhir.rendering import searchset
from shared.fhir.service import FhirService, WriteResult, format_instant
from shared.fhir.storage.repository import StoredResource

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}


@dataclass(slots=True)
class _Entry:
    index: int
    method: str
    resource_type: str
    resource_id: str | None
    query: str | None
    resource: Any
    full_url: str | None
    request: dict[str, Any]
    assigned_id: str | None = None
    matched: StoredResource | None = None  # what a conditional create found
    stored_id: str | None = None  # the id a POST was answered with
    response: dict[str, Any] = field(default_factory=dict)
    access: Access | None = None  # what the entry did, for its AuditEvent

    @property
    def interaction(self) -> str:
        """The REST interaction the entry asks for."""
        if self.method == "GET":
            return "read" if self.resource_id else "search-type"
        return {"POST": "create", "PUT": "update", "DELETE": "delete"}.get(self.method, "patch")


def _parse_entry(index: int, entry: Any, base_url: str) -> _Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise bad_request("Every entry needs a request", f"{where}.request")
    request = entry["request"]
    method = str(request.get("method", "")).upper()
    url = request.get("url")
    if method not in _ORDER or not isinstance(url, str) or not url:
        raise bad_request("request.method and request.url are required", f"{where}.request")
    url = url.removeprefix(base_url + "/")
    path, _, query = url.partition("?")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise bad_request("request.url must name a resource type", f"{where}.request.url")
    resource = entry.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise bad_request(f"A {method} entry needs a resource", f"{where}.resource")
    return _Entry(
        index=index,
        method=method,
        resource_type=parts[0],
        resource_id=parts[1] if len(parts) > 1 else None,
        query=query or None,
        resource=resource,
        full_url=entry.get("fullUrl"),
        request=request,
    )


def parse_bundle(body: Any, base_url: str) -> tuple[str, list[_Entry]]:
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise bad_request("POST to the base URL takes a Bundle", "Bundle")
    bundle_type = body.get("type")
    if bundle_type not in ("transaction", "batch"):
        raise bad_request("Bundle.type must be transaction or batch", "Bundle.type")
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise bad_request("Bundle.entry must be a list", "Bundle.entry")
    return bundle_type, [_parse_entry(i, e, base_url) for i, e in enumerate(entries)]


async def run_transaction(
    fhir: FhirService, entries: list[_Entry], *, include_resources: bool
) -> dict[str, Any]:
    """Process a transaction inside the caller's database transaction (atomic)."""
    await _assign_ids(fhir, entries)
    _rewrite_references(entries)
    await _resolve_conditional_references(fhir, entries)
    for entry in sorted(entries, key=_processing_key(entries)):
        try:
            entry.response = await _execute(fhir, entry, include_resources)
        except FhirError as exc:
            raise _entry_error(exc, entry) from None
        if entry.stored_id not in (None, entry.assigned_id):
            _repoint(entries, entry)
    return _response_bundle("transaction-response", entries)


async def run_batch(
    fhir: FhirService, entries: list[_Entry], *, include_resources: bool
) -> dict[str, Any]:
    """Process each entry independently; a failed entry reports its OperationOutcome."""
    for entry in sorted(entries, key=lambda e: (_ORDER[e.method], e.index)):
        try:
            async with fhir.repository.session.begin_nested():
                entry.response = await _execute(fhir, entry, include_resources)
        except FhirError as exc:
            entry.response = {
                "status": str(exc.status),
                "outcome": _entry_error(exc, entry).outcome(),
            }
            entry.access = Access(
                entry.interaction,
                entry.resource_type,
                objects=[f"{entry.resource_type}/{entry.resource_id}"] if entry.resource_id else [],
                patients=patients_of(entry.resource),
                status=exc.status,
            )
    return _response_bundle("batch-response", entries)


async def _assign_ids(fhir: FhirService, entries: list[_Entry]) -> None:
    """Give every POST its id up front: an existing match for conditional or re-sent
    creates, a new id otherwise."""
    for entry in entries:
        if entry.method != "POST":
            continue
        condition = entry.request.get("ifNoneExist")
        if condition:
            try:
                matches = await fhir.match_ids(entry.resource_type, condition)
            except FhirError as exc:
                raise exc.at(f"Bundle.entry[{entry.index}].request.ifNoneExist") from None
            if len(matches) > 1:
                raise multiple_matches("ifNoneExist matches more than one resource").at(
                    f"Bundle.entry[{entry.index}].request.ifNoneExist"
                )
            if matches:
                entry.assigned_id, entry.matched = matches[0].id, matches[0]
                continue
        definition = fhir.registry.get(entry.resource_type)
        if definition and definition.unique_keys and isinstance(entry.resource, dict):
            holder = await fhir.repository.identifier_owner(
                entry.resource_type, definition.unique_keys(entry.resource)
            )
            if holder:
                entry.assigned_id = holder
                continue
        entry.assigned_id = str(uuid4())


def _bundle_path(entry: _Entry, expression: str) -> str:
    """Where `expression` (rooted at the resource type, e.g. `Patient.gender`) lies in the
    submitted Bundle: `Bundle.entry[3].resource.gender`."""
    head = entry.resource_type
    if expression == head or expression.startswith((f"{head}.", f"{head}[")):
        expression = "resource" + expression[len(head) :]
    return f"Bundle.entry[{entry.index}].{expression}"


def _entry_error(exc: FhirError, entry: _Entry) -> FhirError:
    """`exc` with every expression pointing into the Bundle at `entry` (the entry itself
    when an issue names no element)."""
    root = f"Bundle.entry[{entry.index}]"
    exc.issues = [
        replace(
            issue,
            expression=tuple(_bundle_path(entry, e) for e in issue.expression) or (root,),
        )
        for issue in exc.issues
    ]
    return exc


def _rewrite_references(entries: list[_Entry]) -> None:
    targets = {
        e.full_url: f"{e.resource_type}/{e.assigned_id}"
        for e in entries
        if e.full_url and e.assigned_id
    }
    targets.update(
        {
            e.full_url: f"{e.resource_type}/{e.resource_id}"
            for e in entries
            if e.full_url and e.method == "PUT" and e.resource_id
        }
    )
    for entry in entries:
        if not isinstance(entry.resource, dict):
            continue
        for expression, element in iter_references(entry.resource, entry.resource_type):
            text = element["reference"]
            if text.startswith("urn:"):
                if text not in targets:
                    raise bad_request(
                        "The reference names no fullUrl in this Bundle",
                        _bundle_path(entry, expression),
                    )
                element["reference"] = targets[text]


async def _resolve_conditional_references(fhir: FhirService, entries: list[_Entry]) -> None:
    for entry in entries:
        if not isinstance(entry.resource, dict):
            continue
        for expression, element in iter_references(entry.resource, entry.resource_type):
            target_type, sep, query = element["reference"].partition("?")
            if not sep:
                continue
            where = _bundle_path(entry, expression)
            try:
                matches = await fhir.match_ids(target_type, query)
            except FhirError as exc:
                raise exc.at(where) from None
            if len(matches) != 1:
                err = not_found if not matches else multiple_matches
                raise err(f"The conditional reference matches {len(matches)} resources").at(where)
            element["reference"] = f"{target_type}/{matches[0].id}"


def _repoint(entries: list[_Entry], created: _Entry) -> None:
    """Point the entries still to run at the resource a POST was answered with, when that
    is not the id assigned up front: a concurrent request stored the same patient, order
    or study (same business identifier) in between, and the create returned that one."""
    assigned = f"{created.resource_type}/{created.assigned_id}"
    for entry in entries:
        if entry.response or not isinstance(entry.resource, dict):
            continue
        for _, element in iter_references(entry.resource, entry.resource_type):
            if element["reference"] == assigned:
                element["reference"] = f"{created.resource_type}/{created.stored_id}"


def _processing_key(entries: list[_Entry]) -> Any:
    """Spec order by method; among POSTs, a resource before the ones that reference it."""
    depth: dict[int, int] = {}
    by_id = {e.assigned_id: e for e in entries if e.assigned_id}

    def level(entry: _Entry, seen: frozenset[int]) -> int:
        if entry.index in depth:
            return depth[entry.index]
        result = 0
        if isinstance(entry.resource, dict) and entry.index not in seen:
            for _, element in iter_references(entry.resource, entry.resource_type):
                target = by_id.get(element["reference"].rpartition("/")[2])
                if target is not None and target is not entry and target.method == "POST":
                    result = max(result, level(target, seen | {entry.index}) + 1)
        depth[entry.index] = result
        return result

    return lambda e: (_ORDER[e.method], level(e, frozenset()) if e.method == "POST" else 0, e.index)


def _check_served(fhir: FhirService, entry: _Entry) -> None:
    """Refuse an entry its type does not serve here (e.g. any AuditEvent entry: AuditEvents
    are kept in the audit log, outside this Bundle's transaction)."""
    definition = fhir.registry.get(entry.resource_type)
    if definition is None:
        return  # the service answers 404 for the type
    if definition.store != "service":
        raise bad_request(f"{entry.resource_type} cannot be used in a Bundle", "Bundle.entry")
    if not definition.serves(entry.interaction):
        raise method_not_allowed(f"{entry.interaction} is not supported on {entry.resource_type}")


async def _execute(fhir: FhirService, entry: _Entry, include_resources: bool) -> dict[str, Any]:
    _check_served(fhir, entry)
    rtype, rid, query = entry.resource_type, entry.resource_id, entry.query
    if entry.method == "POST":
        if entry.matched is not None:
            result = WriteResult(entry.matched, created=False, resent=True)
        else:
            # ifNoneExist is checked (again) here: a batch matches nothing up front, and in
            # a transaction a concurrent create may have landed since; `_repoint` follows it.
            result = await fhir.create(
                rtype,
                entry.resource,
                if_none_exist=entry.request.get("ifNoneExist"),
                assigned_id=entry.assigned_id,
            )
        entry.stored_id = result.stored.id
        return _write_response(entry, result, include_resources)
    if entry.method == "PUT":
        if_match = entry.request.get("ifMatch")
        if rid:
            return _write_response(
                entry,
                await fhir.update(rtype, rid, entry.resource, if_match=if_match),
                include_resources,
            )
        if query:
            return _write_response(
                entry,
                await fhir.conditional_update(rtype, query, entry.resource, if_match=if_match),
                include_resources,
            )
        raise bad_request("A PUT entry needs Type/id or Type?criteria")
    if entry.method == "DELETE":
        if rid:
            deleted = await fhir.delete(rtype, rid, if_match=entry.request.get("ifMatch"))
        elif query:
            deleted = await fhir.conditional_delete(rtype, query)
        else:
            raise bad_request("A DELETE entry needs Type/id or Type?criteria")
        target = f"{rtype}/{rid}" if rid else None
        entry.access = accessed("delete", rtype, [deleted], object_path=target)
        return {"status": "204 No Content"}
    if entry.method == "PATCH":
        raise bad_request("PATCH is not supported in Bundles")
    if rid:
        stored = await fhir.read(rtype, rid)
        entry.access = accessed("read", rtype, [stored])
        return {
            "status": "200 OK",
            "etag": stored.etag,
            "lastModified": format_instant(stored.last_updated),
            "_resource": stored.content,
        }
    items = parse_qsl(query or "", keep_blank_values=True)
    found = await fhir.search(rtype, items)
    entry.access = searched(rtype, found, items, query or "")
    bundle = searchset(found, base_url=fhir.base_url, resource_type=rtype)
    return {"status": "200 OK", "_resource": bundle.decode()}


def _write_response(entry: _Entry, result: WriteResult, include_resources: bool) -> dict[str, Any]:
    stored = result.stored
    interaction = "create" if result.created or result.resent else "update"
    entry.access = accessed(interaction, stored.resource_type, [stored])
    response: dict[str, Any] = {
        "status": _STATUS_TEXT[201 if result.created else 200],
        "location": stored.versioned_path,
        "etag": stored.etag,
        "lastModified": format_instant(stored.last_updated),
    }
    if include_resources:
        response["_resource"] = stored.content
    return response


def _response_bundle(bundle_type: str, entries: list[_Entry]) -> dict[str, Any]:
    out = []
    for entry in entries:
        response = dict(entry.response)
        content = response.pop("_resource", None)
        item: dict[str, Any] = {}
        if entry.full_url:
            item["fullUrl"] = entry.full_url
        if content is not None:
            item["resource"] = orjson.loads(content)
        item["response"] = response
        out.append(item)
    return {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "type": bundle_type,
        "entry": out,
    }
