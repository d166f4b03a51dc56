"""The CapabilityStatement, generated from what a service registers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.fhir.registry import Operation, Registry
from shared.fhir.search.request import COMMON_PARAMS

FHIR_VERSION = "4.0.1"
_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)


_BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
# SMART App Launch, "Conformance": a server using SMART says so in rest.security and names
# its OAuth endpoints there too (and in .well-known/smart-configuration, which newer SMART
# versions prefer; both are served, with the same token URL).
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def smart_security(token_url: str) -> dict[str, Any]:
    """`rest.security`: SMART on FHIR, with the token endpoint at `token_url`."""
    return {
        "extension": [
            {"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url}]},
        ],
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": SECURITY_SERVICE,
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 using the SMART on FHIR profile",
            }
        ],
        "description": "A bearer token on every interaction except /metadata: an access "
        "token of the platform (SMART Backend Services: client_credentials with a signed "
        "client assertion at the token endpoint; see .well-known/smart-configuration) or a "
        "user token of the configured OpenID Connect provider.",
    }


def _subscription_support(registry: Registry) -> dict[str, Any]:
    """The topics offered and the backport operations (Subscriptions R5 Backport, R4)."""
    return {
        "extension": [
            {
                "url": f"{_BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical",
                "valueCanonical": topic.url,
            }
            for topic in registry.topics
        ],
        "operation": [
            {
                "name": name,
                "definition": f"{_BACKPORT}/OperationDefinition/backport-subscription-{name}",
            }
            for name in ("status", "events")
        ],
    }


def capability_statement(
    registry: Registry, *, base_url: str, token_url: str, software_version: str, date: str
) -> dict[str, Any]:
    """What the service of `registry` serves at `base_url`; tokens come from `token_url`."""
    resources = []
    for definition in registry.definitions:
        params = [
            {"name": p.name, "type": p.type.value, "documentation": p.description}
            | ({"definition": p.definition} if p.definition else {})
            for p in (*COMMON_PARAMS.values(), *definition.search_params)
        ]
        serves = definition.serves
        resource: dict[str, Any] = {
            "type": definition.type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{definition.type}",
            "interaction": [{"code": code} for code in _INTERACTIONS if serves(code)],
            "versioning": "versioned-update" if serves("update") else "versioned",
            "readHistory": serves("vread"),
            "updateCreate": False,
            "conditionalCreate": serves("create"),
            "conditionalRead": "not-supported",
            "conditionalUpdate": serves("update"),
            "conditionalDelete": "single" if serves("delete") else "not-supported",
            "searchInclude": list(definition.includes),
            "searchRevInclude": list(definition.revincludes),
            "searchParam": params,
        }
        if definition.documentation:
            resource["documentation"] = definition.documentation
        if definition.operations:
            resource["operation"] = _operation_entries(definition.operations)
        if definition.type == "Subscription":
            resource |= _subscription_support(registry)
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Teleradiology platform",
        "kind": "instance",
        "software": {"name": f"teleradiology-{registry.service}", "version": software_version},
        "implementation": {"description": f"{registry.service} service", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": smart_security(token_url),
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
            | _operations(registry.operations)
        ],
    }


def _operations(operations: tuple[Operation, ...]) -> dict[str, Any]:
    if not operations:
        return {}
    return {"operation": _operation_entries(operations)}


def _operation_entries(operations: Iterable[Operation]) -> list[dict[str, Any]]:
    return [
        {"name": o.name, "definition": o.definition, "documentation": o.documentation}
        for o in operations
    ]
