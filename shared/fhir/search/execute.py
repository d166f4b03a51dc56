"""Run a parsed search: the total, one keyset page, its includes and its paging tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.fhir.search.query import PageToken, fingerprint, ordering
from shared.fhir.search.request import SearchRequest
from shared.fhir.storage.repository import FhirRepository, StoredResource


@dataclass(slots=True)
class SearchResult:
    request: SearchRequest
    matches: list[StoredResource] = field(default_factory=list)
    included: list[StoredResource] = field(default_factory=list)
    total: int | None = None
    next_page: str | None = None
    previous_page: str | None = None


async def run_search(
    repository: FhirRepository,
    resource_type: str,
    request: SearchRequest,
    *,
    served: set[str],
    include_max: int,
) -> SearchResult:
    """Execute `request`; totals are counted on the first page or when `_total` asks."""
    result = SearchResult(request)
    order = ordering(resource_type, request)
    query_key = fingerprint(resource_type, request)
    token = PageToken.decode(request.page, query_key, order.kinds) if request.page else None
    wants_total = request.total in ("accurate", "estimate") or (
        request.total is None and token is None
    )
    if request.summary_count or wants_total:
        result.total = await repository.count(resource_type, request)
    if request.summary_count or request.count == 0:
        return result

    rows = await repository.search_page(resource_type, request, order, token)
    more = len(rows) > request.count
    rows = rows[: request.count]
    forward = token is None or token.forward
    if not forward:
        rows.reverse()
    sort_width = len(order.expressions)
    if rows:
        first = tuple(rows[0][7 : 7 + sort_width])
        last = tuple(rows[-1][7 : 7 + sort_width])
        if more if forward else token is not None:
            result.next_page = PageToken(last, forward=True).encode(query_key)
        if (token is not None) if forward else more:
            result.previous_page = PageToken(first, forward=False).encode(query_key)
    result.matches = [StoredResource.from_row(row) for row in rows]
    await _add_includes(repository, result, resource_type, served, include_max)
    return result


async def _add_includes(
    repository: FhirRepository,
    result: SearchResult,
    resource_type: str,
    served: set[str],
    include_max: int,
) -> None:
    request = result.request
    pks = [m.pk for m in result.matches]
    ids = [m.id for m in result.matches]
    seen = {(m.resource_type, m.id) for m in result.matches}
    for include in request.includes:
        for stored in await repository.included(include, pks, served, include_max):
            if (stored.resource_type, stored.id) not in seen:
                seen.add((stored.resource_type, stored.id))
                result.included.append(stored)
    for include in request.revincludes:
        for stored in await repository.revincluded(include, resource_type, ids, include_max):
            if (stored.resource_type, stored.id) not in seen:
                seen.add((stored.resource_type, stored.id))
                result.included.append(stored)
    del result.included[include_max:]
