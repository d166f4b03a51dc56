"""An operation declaration as a FHIR R4 OperationDefinition.

https://hl7.org/fhir/R4/operationdefinition.html: where the operation is invoked (system,
type, instance), and each in and out parameter with its type and cardinality; a parameter
made of parts has no type of its own.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.conformance.model import OperationDefinition, OperationParameter
from shared.fhir.conformance.structure_definition import PUBLISHER


def _parameter(parameter: OperationParameter) -> dict[str, Any]:
    element: dict[str, Any] = {
        "name": parameter.name,
        "use": parameter.use,
        "min": parameter.min,
        "max": parameter.max,
        "documentation": parameter.documentation,
    }
    if parameter.type is not None:
        element["type"] = parameter.type
    if parameter.parts:
        element["part"] = [_parameter(part) for part in parameter.parts]
    return element


def operation_definition(
    operation: OperationDefinition, *, version: str, date: str
) -> dict[str, Any]:
    """The OperationDefinition of `operation`, as version `version` published on `date`."""
    resource: dict[str, Any] = {
        "resourceType": "OperationDefinition",
        "id": operation.id,
        "url": operation.url,
        "version": version,
        "name": operation.name,
        "title": operation.title,
        "status": "active",
        "kind": "operation",
        "date": date,
        "publisher": PUBLISHER,
        "description": operation.description,
        "affectsState": operation.affects_state,
        "code": operation.code,
        "system": operation.system,
        "type": operation.type,
        "instance": operation.instance,
        "parameter": [_parameter(p) for p in operation.parameters],
    }
    if operation.resources:
        resource["resource"] = list(operation.resources)
    return resource
