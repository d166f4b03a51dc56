"""What the OpenAPI says of each FHIR interaction: its query parameters (the type's search
parameters, the result parameters) and the shape of its body.

The endpoints read their parameters from the request themselves (FHIR's are open-ended:
modifiers, repeats, chains), so FastAPI cannot infer them; declaring them here documents
them at /fhir/docs and lets an OpenAPI-driven fuzzer reach the search code.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.registry import ResourceDefinition

FHIR_JSON = "application/fhir+json"
FORM = "application/x-www-form-urlencoded"
_TEXT = {"type": "string"}
_RESULT_PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "_count": ("Page size (capped at the server's maximum)", {"type": "integer", "minimum": 0}),
    "_sort": ("Sort keys, comma-separated; '-' for descending", _TEXT),
    "_include": ("SourceType:param[:TargetType] to add the resources matches refer to", _TEXT),
    "_revinclude": ("SourceType:param[:TargetType] to add resources referring to matches", _TEXT),
    "_summary": ("'count' for the total only", {"type": "string", "enum": ["count", "false"]}),
    "_total": ("none | estimate | accurate", _TEXT),
    "_page": ("Where the page starts (from a Bundle link)", _TEXT),
}
_HISTORY_PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "_since": ("Only versions written at or after this instant", _TEXT),
    "_count": ("Page size (capped at the server's maximum)", {"type": "integer", "minimum": 0}),
    "_page": ("Where the page starts (from a Bundle link)", _TEXT),
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    "default": {
        "description": "A FHIR resource or Bundle; errors are OperationOutcomes",
        "content": {FHIR_JSON: {"schema": {"type": "object"}}},
    }
}


def answers() -> dict[int | str, dict[str, Any]]:
    """The responses every FHIR interaction documents."""
    return _ANSWERS


def _search_parameters(definition: ResourceDefinition) -> dict[str, tuple[str, dict[str, Any]]]:
    criteria = {
        "_id": ("Logical id", _TEXT),
        "_lastUpdated": ("When the resource last changed (prefix + instant)", _TEXT),
    }
    criteria |= {p.name: (p.description, _TEXT) for p in definition.search_params}
    return criteria | _RESULT_PARAMETERS


def _query(parameters: dict[str, tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "description": text, "schema": schema}
        for name, (text, schema) in parameters.items()
    ]


def search_query(definition: ResourceDefinition) -> dict[str, Any]:
    """`openapi_extra` of a search by GET: the type's parameters in the query."""
    return {"parameters": _query(_search_parameters(definition))}


def search_form(definition: ResourceDefinition) -> dict[str, Any]:
    """`openapi_extra` of a search by POST: the same parameters as a form."""
    properties = {name: schema for name, (_, schema) in _search_parameters(definition).items()}
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return {"requestBody": {"required": False, "content": {FORM: {"schema": schema}}}}


def history_query() -> dict[str, Any]:
    """`openapi_extra` of a history interaction."""
    return {"parameters": _query(_HISTORY_PARAMETERS)}


def resource_body(resource_type: str) -> dict[str, Any]:
    """`openapi_extra` of a write: a JSON object of `resource_type`."""
    schema = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "enum": [resource_type]}},
        "additionalProperties": True,
    }
    return {"requestBody": {"required": True, "content": {FHIR_JSON: {"schema": schema}}}}


def bundle_body() -> dict[str, Any]:
    """`openapi_extra` of a batch or transaction."""
    schema = {
        "type": "object",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string", "enum": ["batch", "transaction"]},
            "entry": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": True,
    }
    return {"requestBody": {"required": True, "content": {FHIR_JSON: {"schema": schema}}}}
