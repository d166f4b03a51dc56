"""Parse and validate incoming resources against the FHIR R4 (R4B-compatible) models.

Structural errors come back as one OperationOutcome issue per failing element, each with
the element's FHIRPath expression. Diagnostics are the validator's wording about the rule
that failed, never the client's value, so that no PHI is echoed.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from shared.fhir.outcomes import Issue, bad_request, invalid_resource

# Required bindings the models do not check: element -> allowed codes.
_REQUEST_STATUS = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)
_REQUEST_INTENT = frozenset(
    {
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    }
)
_REQUEST_PRIORITY = frozenset({"routine", "urgent", "asap", "stat"})
REQUIRED_CODES: dict[str, dict[str, frozenset[str]]] = {
    "Patient": {"gender": frozenset({"male", "female", "other", "unknown"})},
    "ServiceRequest": {
        "status": _REQUEST_STATUS,
        "intent": _REQUEST_INTENT,
        "priority": _REQUEST_PRIORITY,
    },
    "ImagingStudy": {
        "status": frozenset({"registered", "available", "cancelled", "entered-in-error", "unknown"})
    },
    "Endpoint": {
        "status": frozenset({"active", "suspended", "error", "off", "entered-in-error", "test"})
    },
    "Task": {
        "status": frozenset(
            {
                "draft",
                "requested",
                "received",
                "accepted",
                "rejected",
                "ready",
                "cancelled",
                "in-progress",
                "on-hold",
                "failed",
                "completed",
                "entered-in-error",
            }
        ),
        "intent": frozenset(
            {
                "unknown",
                "proposal",
                "plan",
                "order",
                "original-order",
                "reflex-order",
                "filler-order",
                "instance-order",
                "option",
            }
        ),
        "priority": _REQUEST_PRIORITY,
    },
    "DiagnosticReport": {
        "status": frozenset(
            {
                "registered",
                "partial",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "appended",
                "cancelled",
                "entered-in-error",
                "unknown",
            }
        )
    },
}


def parse_json(body: bytes) -> Any:
    """The request body as JSON, or a 400 OperationOutcome."""
    if not body:
        raise bad_request("The request has no body; a FHIR resource is expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON") from None


@cache
def _model(resource_type: str) -> type[BaseModel] | None:
    try:
        model: type[BaseModel] = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None
    return model


def _expression(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            path += f".{part}"
    return path


def validate_resource(data: Any, expected_type: str | None = None) -> dict[str, Any]:
    """Check `data` is a valid resource (of `expected_type`, when given) and return it."""
    if not isinstance(data, dict):
        raise bad_request("A FHIR resource must be a JSON object")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise bad_request("The resource has no resourceType", "resourceType")
    model = _model(resource_type)
    if expected_type is not None and resource_type != expected_type:
        # Named only when it is a type name: anything else is the client's data, unechoed.
        found = f"a {resource_type}" if model is not None else "of no FHIR R4 resource type"
        raise bad_request(f"Expected a {expected_type} but the body is {found}", "resourceType")
    if model is None:
        raise bad_request("The resourceType is not a FHIR R4 resource type", "resourceType")
    issues: list[Issue] = []
    try:
        model.model_validate(data)
    except ValidationError as exc:
        issues += [
            Issue(
                code="required" if "missing" in err["type"] else "structure",
                diagnostics=err["msg"],
                expression=(_expression(resource_type, err["loc"]),),
            )
            for err in exc.errors(include_input=False, include_url=False)
        ]
    except (TypeError, ValueError):  # raised by a few model validators directly
        issues.append(
            Issue(
                "structure",
                "The resource does not fit the FHIR R4 model",
                expression=(resource_type,),
            )
        )
    issues += _code_issues(resource_type, data)
    issues += _control_character_issues(data, resource_type)
    if issues:
        raise invalid_resource(issues)
    return data


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _control_character_issues(node: Any, path: str) -> list[Issue]:
    """FHIR strings hold no control characters but tab, CR and LF (and PostgreSQL text
    cannot store NUL): one issue per offending element."""
    if isinstance(node, str):
        if _CONTROL.search(node):
            message = "Strings may not contain control characters other than tab, CR and LF"
            return [Issue("value", message, expression=(path,))]
        return []
    if isinstance(node, dict):
        return [
            issue
            for key, value in node.items()
            for issue in _control_character_issues(value, f"{path}.{key}")
        ]
    if isinstance(node, list):
        return [
            issue
            for index, item in enumerate(node)
            for issue in _control_character_issues(item, f"{path}[{index}]")
        ]
    return []


def _code_issues(resource_type: str, data: dict[str, Any]) -> list[Issue]:
    issues = []
    for element, allowed in REQUIRED_CODES.get(resource_type, {}).items():
        value = data.get(element)
        if value is not None and value not in allowed:
            issues.append(
                Issue(
                    "value",
                    f"{element} must be one of: {', '.join(sorted(allowed))}",
                    expression=(f"{resource_type}.{element}",),
                )
            )
    return issues
