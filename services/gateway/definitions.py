"""The platform's own definitions, served by the front door itself: read-only
StructureDefinition, CodeSystem, NamingSystem and OperationDefinition.

Why here and not in a service: the definitions are code (declared in each service's
`conformance.py` and in shared/), not data any service stores, and every service declares
some, so no one service owns the types. The front door already imports every service's
registry; it imports their declarations too and answers reads and searches from memory,
without a database or a call behind it. Like /metadata, they need no token: they are the
published meaning of the platform's URLs, with no patient or tenant data.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from fastapi import Request, Response

from services.assignment.conformance import DEFINITIONS as ASSIGNMENT
from services.intake.conformance import DEFINITIONS as INTAKE
from services.reporting.conformance import DEFINITIONS as REPORTING
from services.sla.conformance import DEFINITIONS as SLA
from shared.audit.conformance import DEFINITIONS as AUDIT
from shared.events.conformance import DEFINITIONS as EVENTS
from shared.fhir.api import base_url
from shared.fhir.conformance import Catalogue, Definition, definition_resources
from shared.fhir.http import link_url, preferences, respond
from shared.fhir.outcomes import method_not_allowed
from shared.fhir.service import format_instant, now_utc

PLATFORM_DEFINITIONS: tuple[Definition, ...] = (
    *EVENTS,
    *AUDIT,
    *INTAKE,
    *ASSIGNMENT,
    *REPORTING,
    *SLA,
)
_READ_ONLY = "The platform's definitions are read-only"


def with_definitions(statement: dict[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """`statement` also listing the definition types the front door serves."""
    rest = statement["rest"][0]
    resources = [*rest["resource"], *definition_resources(catalogue)]
    return {**statement, "rest": [{**rest, "resource": resources}, *statement["rest"][1:]]}


def searchset(
    request: Request, resource_type: str, matches: list[dict[str, Any]], params: list[Any]
) -> dict[str, Any]:
    """A searchset Bundle of every match (the catalogue is small: one page)."""
    base = base_url(request)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "meta": {"lastUpdated": format_instant(now_utc())},
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": link_url(base, resource_type, params)}],
    }
    if matches:
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{resource_type}/{match['id']}",
                "resource": match,
                "search": {"mode": "match"},
            }
            for match in matches
        ]
    return bundle


def answer(
    request: Request, resource_type: str, rest: str, params: list[tuple[str, str]]
) -> Response:
    """Read (`GET Type/id`) or search (`GET Type`, `POST Type/_search`) a definition;
    anything else is a 405."""
    catalogue: Catalogue = request.app.state.definitions
    method = request.method
    searching = (method == "GET" and rest == "") or (method == "POST" and rest == "_search")
    if searching:
        lenient = preferences(request).lenient
        matches, used = catalogue.search(resource_type, params, lenient=lenient)
        return respond(request, searchset(request, resource_type, matches, used))
    if method == "GET" and rest and "/" not in rest and not rest.startswith(("_", "$")):
        return respond(request, catalogue.read(resource_type, rest))
    raise method_not_allowed(f"{_READ_ONLY}: {resource_type} takes read and search only")
