"""Assemble search SQL over the index tables, with keyset paging.

Paging is by keyset, not offset: a page token holds the sort values of the row it continues
from (plus the resource's immutable primary key as the final tie-break), so pages stay
correct while others write -- a resource created or deleted between two page requests never
shifts another resource onto a page twice or off every page.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from shared.fhir.outcomes import bad_request
from shared.fhir.registry import ParamType
from shared.fhir.search import date, reference, string, token
from shared.fhir.search.request import Criterion, SearchRequest, SortKey
from shared.fhir.storage.tables import (
    STORED_COLUMNS,
    resources,
    search_date,
    search_reference,
    search_string,
    search_token,
)

_TABLE_BY_TYPE = {
    ParamType.TOKEN: search_token,
    ParamType.STRING: search_string,
    ParamType.DATE: search_date,
    ParamType.REFERENCE: search_reference,
}


def criterion_clause(resource_type: str, criterion: Criterion) -> ColumnElement[bool]:
    """SQL restricting `fhir_resource` rows to those matching one criterion."""
    param = criterion.param
    if param.name == "_id":
        clause: ColumnElement[bool] = resources.c.id.in_(criterion.values)
        return not_(clause) if criterion.modifier == "not" else clause
    if param.name == "_lastUpdated":
        return or_(
            *(
                date.instant_condition(resources.c.last_updated, v, expression=criterion.expression)
                for v in criterion.values
            )
        )
    table = _TABLE_BY_TYPE[param.type]
    scoped = and_(table.c.resource_type == resource_type, table.c.param == param.name)
    if criterion.modifier == "missing":
        if set(criterion.values) - {"true", "false"}:
            raise bad_request(":missing takes true or false", criterion.expression)
        having = resources.c.pk.in_(select(table.c.resource_pk).where(scoped))
        return not_(having) if criterion.values == ("true",) else having
    match param.type:
        case ParamType.TOKEN:
            value_clause = token.any_condition(list(criterion.values))
        case ParamType.STRING:
            value_clause = string.any_condition(list(criterion.values), criterion.modifier)
        case ParamType.DATE:
            value_clause = date.any_condition(
                search_date.c.low,
                search_date.c.high,
                list(criterion.values),
                expression=criterion.expression,
            )
        case _:
            value_clause = reference.any_condition(list(criterion.values), criterion.modifier)
    if criterion.modifier == "not":
        return not_(resources.c.pk.in_(select(table.c.resource_pk).where(scoped, value_clause)))
    return resources.c.pk.in_(select(table.c.resource_pk).where(scoped, value_clause))


def match_clause(resource_type: str, request: SearchRequest) -> ColumnElement[bool]:
    clauses = [resources.c.resource_type == resource_type, resources.c.deleted == false()]
    clauses += [criterion_clause(resource_type, c) for c in request.criteria]
    return and_(*clauses)


def _sort_keys(resource_type: str, key: SortKey) -> list[tuple[ColumnElement[Any], bool, str]]:
    """(expression, descending, kind) for one `_sort` key.

    A parameter sorts by two expressions: first whether the resource has no value (always
    ascending, so such resources come last in either direction), then its value (min when
    ascending, max when descending; a constant stands in when missing, so keyset
    comparisons never meet a NULL and no collation has to put a sentinel last).
    """
    param = key.param
    if param.name == "_id":
        return [(resources.c.id, key.descending, "scalar")]
    if param.name == "_lastUpdated":
        return [(resources.c.last_updated, key.descending, "date")]
    table = _TABLE_BY_TYPE[param.type]
    column: ColumnElement[Any]
    placeholder: Any
    if param.type is ParamType.DATE:
        column, placeholder, kind = search_date.c.low, date.MIN_DATE, "date"
    elif param.type is ParamType.STRING:
        column, placeholder, kind = search_string.c.normalized, "", "scalar"
    else:
        column, placeholder, kind = search_token.c.code, "", "scalar"
    aggregate = func.max(column) if key.descending else func.min(column)
    value = (
        select(aggregate)
        .where(
            table.c.resource_pk == resources.c.pk,
            table.c.resource_type == resource_type,
            table.c.param == param.name,
        )
        .scalar_subquery()
    )
    missing = case((value.is_(None), 1), else_=0)
    present = func.coalesce(value, literal(placeholder, column.type))
    return [(missing, False, "flag"), (present, key.descending, kind)]


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where a page starts: after (`forward`) or before the row with these sort values."""

    values: tuple[Any, ...]
    forward: bool

    def encode(self, fingerprint: str) -> str:
        payload = {
            "v": [v.isoformat() if isinstance(v, datetime) else v for v in self.values],
            "f": self.forward,
            "q": fingerprint,
        }
        return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, fingerprint: str, kinds: list[str]) -> PageToken:
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            raw = payload["v"]
            if payload["q"] != fingerprint or len(raw) != len(kinds):
                raise ValueError
            values = tuple(_token_value(v, kind) for v, kind in zip(raw, kinds, strict=True))
            return cls(values, bool(payload["f"]))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise bad_request(
                "The page token is invalid or belongs to another search", "_page"
            ) from None


def _token_value(value: Any, kind: str) -> Any:
    """A sort value from a page token, refused unless of its column's type: tokens are not
    signed, and a mistyped value must be a 400, not a database error."""
    if kind == "date":
        return datetime.fromisoformat(value)
    if kind == "pk":
        if type(value) is not int or not 0 <= value < 2**63:
            raise ValueError
    elif kind == "flag":
        if value not in (0, 1) or type(value) is not int:
            raise ValueError
    elif not isinstance(value, str) or "\x00" in value:
        raise ValueError
    return value


def fingerprint(resource_type: str, request: SearchRequest) -> str:
    """Ties a page token to the search it came from."""
    text = resource_type + "?" + "&".join(f"{k}={v}" for k, v in request.link_params)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Ordering:
    expressions: list[ColumnElement[Any]]
    descending: list[bool]
    kinds: list[str]  # "date" (datetimes in page tokens), "scalar" (strings), "flag", "pk"


def ordering(resource_type: str, request: SearchRequest) -> Ordering:
    """The sort keys of a search, ending with the immutable row key as the tie-break."""
    keys = [part for key in request.sort for part in _sort_keys(resource_type, key)]
    keys.append((resources.c.pk, False, "pk"))
    return Ordering([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])


def _after(order: Ordering, values: tuple[Any, ...], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after (or, going back, before) `values` in the ordering."""
    alternatives = []
    for i, expr in enumerate(order.expressions):
        equal_before = [order.expressions[j] == values[j] for j in range(i)]
        larger_next = order.descending[i] != forward  # do the next rows hold larger values?
        step = expr > values[i] if larger_next else expr < values[i]
        alternatives.append(and_(*equal_before, step) if equal_before else step)
    return or_(*alternatives) if alternatives else true()


def page_query(
    resource_type: str,
    request: SearchRequest,
    order: Ordering,
    token: PageToken | None,
) -> Select[Any]:
    """One page (plus one row, to tell whether another page follows).

    Columns: those of `StoredResource`, then the sort values.
    """
    forward = token is None or token.forward
    query = select(
        *STORED_COLUMNS,
        *(e.label(f"sort_{i}") for i, e in enumerate(order.expressions)),
    ).where(match_clause(resource_type, request))
    if token is not None:
        query = query.where(_after(order, token.values, forward))
    directions = [d if forward else not d for d in order.descending]
    query = query.order_by(
        *(e.desc() if d else e.asc() for e, d in zip(order.expressions, directions, strict=True))
    )
    return query.limit(request.count + 1)


def count_query(resource_type: str, request: SearchRequest) -> Select[Any]:
    return select(func.count()).select_from(resources).where(match_clause(resource_type, request))
