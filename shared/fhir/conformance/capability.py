"""The CapabilityStatement entries of the definitions: each type read-only (read and
search-type), its search parameters, and the URLs it holds in its documentation.

`supportedProfile` names profiles of the type itself, not extensions used on other types,
so the extensions are listed by URL in the StructureDefinition entry's documentation (and
in docs/fhir.md).
"""

from __future__ import annotations

from typing import Any

from shared.fhir.conformance.catalogue import Catalogue
from shared.fhir.conformance.model import DEFINITION_TYPES
from shared.fhir.conformance.structure_definition import CORE

_SEARCH_PARAMETER = "http://hl7.org/fhir/SearchParameter"
_ID = {
    "name": "_id",
    "type": "token",
    "definition": f"{_SEARCH_PARAMETER}/Resource-id",
    "documentation": "Logical id of the definition",
}
_URL = {
    "name": "url",
    "type": "uri",
    "definition": f"{_SEARCH_PARAMETER}/conformance-url",
    "documentation": "The canonical URL of the definition (url or url|version)",
}
_VALUE = {
    "name": "value",
    "type": "string",
    "definition": f"{_SEARCH_PARAMETER}/NamingSystem-value",
    "documentation": "The identifier system's URI (starts with; :exact for equality)",
}
_WHAT = {
    "StructureDefinition": "The extensions this platform defines",
    "CodeSystem": "The code systems this platform defines",
    "NamingSystem": "The identifier systems this platform defines",
    "OperationDefinition": "The operations this platform defines",
    "Measure": "The measures this platform reports on (MeasureReport.measure)",
}


def _urls(catalogue: Catalogue, resource_type: str) -> list[str]:
    return sorted(d.url for d in catalogue.definitions if d.resource_type == resource_type)


def definition_resources(catalogue: Catalogue) -> list[dict[str, Any]]:
    """One read-only `rest.resource` entry per definition type."""
    entries = []
    for resource_type in DEFINITION_TYPES:
        urls = ", ".join(_urls(catalogue, resource_type))
        entries.append(
            {
                "type": resource_type,
                "profile": f"{CORE}/{resource_type}",
                "documentation": f"{_WHAT[resource_type]} (read-only; see docs/fhir.md): {urls}",
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "versioning": "no-version",
                "readHistory": False,
                "updateCreate": False,
                "conditionalCreate": False,
                "conditionalRead": "not-supported",
                "conditionalUpdate": False,
                "conditionalDelete": "not-supported",
                "searchParam": [_ID, _VALUE if resource_type == "NamingSystem" else _URL],
            }
        )
    return entries
