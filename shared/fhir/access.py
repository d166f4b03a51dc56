"""Tenant isolation: which stored resources a caller may see, decided inside every query.

Each service gives every resource version a set of access labels (its `ResourceRules`
decide: the ordering facility `Organization/<id>`, the reading radiologist
`Practitioner/<id>`, the order `order/<id>` it belongs to, ...). A caller confined to a
tenant (`Principal.access_keys`) sees a resource when it holds one of the resource's labels,
or holds a grant of one (`access_grant`: e.g. the label of an order granted to the
radiologist its read Task is assigned to, for as long as the Task says so).

The filter is a clause added to the repository's statements -- reads, versions, history,
searches, includes, revincludes, counts, conditional matches and reference checks alike --
so that a resource outside the caller's tenant is indistinguishable from one that does not
exist (404, never 403). Writes are checked too: what a caller writes must carry one of its
own keys, so it can never place data in another tenant (`require_own`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import ColumnElement, exists, or_, select, union_all

from shared.fhir.outcomes import business_rule
from shared.fhir.references import referenced_id
from shared.fhir.search.reference import parse
from shared.fhir.storage.records import StoredResource
from shared.fhir.storage.tables import access_grant, resource_access

AccessKeys = frozenset[str] | None  # None: not confined to a tenant

ORDER_LABEL_PREFIX = "order/"
# The label of what an owner confined to no tenant made (e.g. a service's subscription):
# no caller holds it, and it stands for "may read everything" where an owner's access is
# replayed later (subscription notifications).
ALL_TENANTS = "*"


def order_label(order_id: str) -> str:
    """The label every resource of one order carries (its grant opens them all)."""
    return f"{ORDER_LABEL_PREFIX}{order_id}"


def visible(pk_column: ColumnElement[Any], keys: frozenset[str]) -> ColumnElement[bool]:
    """True for the rows whose resource carries a label in `keys`, or granted to them."""
    label = resource_access.c.label
    granted = select(access_grant.c.label).where(access_grant.c.holder.in_(sorted(keys)))
    return exists().where(
        resource_access.c.resource_pk == pk_column,
        or_(label.in_(sorted(keys)), label.in_(granted)),
    )


def owner_access(labels: set[str]) -> AccessKeys:
    """The access a resource's owner had, from the labels it gave the resource."""
    return None if ALL_TENANTS in labels else frozenset(labels)


def visible_set(pk_column: ColumnElement[Any], keys: frozenset[str]) -> ColumnElement[bool]:
    """`visible` for statements over many rows (pages, counts, history): the set of the
    caller's resources, found from the labels by index, instead of a probe of each row's
    labels (docs/benchmarks.md, "Tenant isolation")."""
    held = sorted(keys)
    own = select(resource_access.c.resource_pk).where(resource_access.c.label.in_(held))
    access = resource_access.alias("granted_access")
    granted = (
        select(access.c.resource_pk)
        .join(access_grant, access_grant.c.label == access.c.label)
        .where(access_grant.c.holder.in_(held))
    )
    return pk_column.in_(union_all(own, granted))


def require_own(keys: AccessKeys, labels: Iterable[str], resource_type: str) -> None:
    """Refuse a write that would not belong to the writer's own tenant."""
    if keys is not None and not keys & set(labels):
        raise business_rule(
            f"This {resource_type} would not belong to the caller's organization or work",
            resource_type,
        )


def relative(reference: Any, resource_type: str) -> str | None:
    """`Type/id` of a Reference element naming a `resource_type`, else None."""
    found = referenced_id(reference, resource_type)
    return f"{resource_type}/{found}" if found else None


def reference_labels(*references: Any) -> set[str]:
    """`Type/id` of each Reference element (relative, absolute or versioned) given."""
    labels = set()
    for element in references:
        text = element.get("reference") if isinstance(element, dict) else None
        parsed = parse(text) if isinstance(text, str) else None
        if parsed and parsed[0]:
            labels.add(f"{parsed[0]}/{parsed[1]}")
    return labels


# Minimum necessary (HIPAA): what a reader of a study -- a partner vendor or a radiologist,
# who see a patient only through the orders assigned to them -- is shown of a patient: who
# they are, to match the images, and nothing of their address, contacts or relations.
MINIMUM_NECESSARY: dict[str, frozenset[str]] = {
    "Patient": frozenset(
        {"resourceType", "id", "meta", "identifier", "name", "gender", "birthDate", "active"}
    ),
}
READER_ROLES = frozenset({"vendor", "radiologist"})
REDACTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}


def presented(stored: StoredResource, role: str) -> StoredResource:
    """`stored` as a caller in `role` is shown it: cut to the minimum necessary for readers."""
    kept = MINIMUM_NECESSARY.get(stored.resource_type)
    if kept is None or role not in READER_ROLES or stored.content is None:
        return stored
    resource = stored.resource()
    if set(resource) <= kept:
        return stored
    shown = {key: value for key, value in resource.items() if key in kept}
    meta = dict(shown.get("meta") or {})
    meta["security"] = [*(meta.get("security") or []), REDACTED]
    shown["meta"] = meta
    return replace(stored, content=orjson.dumps(shown).decode())
