"""Code system and identifier system declarations as FHIR R4 CodeSystem and NamingSystem.

https://hl7.org/fhir/R4/codesystem.html: every code is listed (`content` complete), so a
client can look up what a code the platform writes means.
https://hl7.org/fhir/R4/namingsystem.html: an identifier system, known by its URI
(`uniqueId` of type uri; R4 NamingSystem has no `url`).
"""

from __future__ import annotations

from typing import Any

from shared.fhir.conformance.model import CodeSystemDefinition, NamingSystemDefinition
from shared.fhir.conformance.structure_definition import PUBLISHER


def code_system(system: CodeSystemDefinition, *, version: str, date: str) -> dict[str, Any]:
    """The CodeSystem of `system`, as version `version` published on `date`."""
    return {
        "resourceType": "CodeSystem",
        "id": system.id,
        "url": system.url,
        "version": version,
        "name": system.name,
        "title": system.title,
        "status": "active",
        "date": date,
        "publisher": PUBLISHER,
        "description": system.description,
        "caseSensitive": True,
        "content": "complete",
        "count": len(system.concepts),
        "concept": [
            {"code": c.code, "display": c.display, "definition": c.definition}
            for c in system.concepts
        ],
    }


def naming_system(system: NamingSystemDefinition, *, date: str) -> dict[str, Any]:
    """The NamingSystem of `system`, published on `date` (R4 NamingSystem has no version)."""
    resource: dict[str, Any] = {
        "resourceType": "NamingSystem",
        "id": system.id,
        "name": system.name,
        "status": "active",
        "kind": "identifier",
        "date": date,
        "publisher": PUBLISHER,
        "description": f"{system.title}: {system.description}",
        "uniqueId": [{"type": "uri", "value": system.value, "preferred": True}],
    }
    if system.usage:
        resource["usage"] = system.usage
    return resource
