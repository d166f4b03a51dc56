"""`GET|POST [base]/DiagnosticReport/{id}[/_history/{vid}]/$verify`: does the signature of
a report version still hold?

An instance operation of this platform (OperationDefinition: OPERATION.definition). It
takes the version asked for (the current one without `_history/{vid}`), finds the
Provenance that signs exactly that version, forms the version's canonical JSON as stored
now and checks the JWS with the signer's published key (signing.py). The answer is a
Parameters resource: `valid`, `report` (the version), and -- when a signature is found --
`provenance` (the resource), `signer`, `kid` and `signed-at`; `reason` says why not when
it does not hold: not a signed status, no signature, unknown key, or a version that
differs from what was signed. Anyone who may read the report may ask; nothing changes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from services.reporting.lifecycle import SIGNED
from services.reporting.signing import Verification, verify_signature
from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal, Principal
from shared.fhir.api import fhir_session
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.http import respond
from shared.fhir.registry import Operation
from shared.fhir.service import FhirService
from shared.fhir.storage.records import StoredResource

OPERATION = Operation(
    name="verify",
    definition=f"{CANONICAL_BASE}/OperationDefinition/DiagnosticReport-verify",
    documentation="Whether the signature of a report version (the current one, or "
    "_history/{vid}) still holds: DiagnosticReport/{id}/$verify",
)


def verification_parameters(
    version: StoredResource, verification: Verification, provenance: dict[str, Any] | None
) -> dict[str, Any]:
    """The operation's answer."""
    parameters: list[dict[str, Any]] = [
        {"name": "valid", "valueBoolean": verification.valid},
        {"name": "report", "valueReference": {"reference": version.versioned_path}},
    ]
    if provenance is not None:
        parameters.append({"name": "provenance", "resource": provenance})
    if verification.signer:
        parameters.append({"name": "signer", "valueReference": {"reference": verification.signer}})
    if verification.kid:
        parameters.append({"name": "kid", "valueString": verification.kid})
    if verification.signed_at:
        parameters.append({"name": "signed-at", "valueInstant": verification.signed_at})
    if verification.reason:
        parameters.append({"name": "reason", "valueString": verification.reason})
    return {"resourceType": "Parameters", "parameter": parameters}


async def verify_version(
    service: FhirService, report_id: str, version_id: str | None
) -> tuple[StoredResource, Verification, dict[str, Any] | None]:
    """The version asked for, the check of its signature and the Provenance checked."""
    shown = (
        await service.vread("DiagnosticReport", report_id, version_id)
        if version_id is not None
        else await service.read("DiagnosticReport", report_id)
    )
    # As stored, not as this caller is shown it: the signature covers the stored bytes.
    stored = await service.repository.version("DiagnosticReport", report_id, shown.version_id)
    assert stored is not None
    resource = stored.resource()
    if resource.get("status") not in SIGNED:
        reason = f"A {resource.get('status')} version is not signed"
        return stored, Verification(False, reason), None
    signatures = await _signatures_of(service, stored)
    if not signatures:
        return stored, Verification(False, "No signature is recorded for this version"), None
    checked = None
    for provenance in signatures:
        checked = await verify_signature(service.repository.session, resource, provenance)
        if checked.valid:
            return stored, checked, provenance
    assert checked is not None
    return stored, checked, signatures[-1]


async def _signatures_of(service: FhirService, version: StoredResource) -> list[dict[str, Any]]:
    """The Provenances whose target is exactly `version`."""
    found = await service.search(
        "Provenance",
        [("target", f"DiagnosticReport/{version.id}"), ("_count", "200")],
    )
    wanted = version.versioned_path
    return [
        provenance
        for provenance in (stored.resource() for stored in found.matches)
        if any(str(t.get("reference", "")).endswith(wanted) for t in provenance.get("target") or [])
    ]


def verify_router() -> APIRouter:
    router = APIRouter(tags=["reporting"])

    async def verify(
        request: Request, principal: Principal, report_id: str, version_id: str | None
    ) -> Response:
        async with fhir_session(request, principal) as service:
            version, verification, provenance = await verify_version(service, report_id, version_id)
            note(request, accessed("operation", "DiagnosticReport", [version]))
        return respond(request, verification_parameters(version, verification, provenance))

    # One route per method: FastAPI names a many-method route's operation after its first
    # method only, so GET and POST would share one OpenAPI operationId.
    current = "/DiagnosticReport/{id}/$verify"
    one = "/DiagnosticReport/{id}/_history/{vid}/$verify"

    @router.get(current, summary="Whether the current version's signature holds")
    @router.post(current, summary="Whether the current version's signature holds")
    async def verify_current(id: str, request: Request, principal: CurrentPrincipal) -> Response:
        return await verify(request, principal, id, None)

    @router.get(one, summary="Whether one version's signature holds")
    @router.post(one, summary="Whether one version's signature holds")
    async def verify_one(
        id: str, vid: str, request: Request, principal: CurrentPrincipal
    ) -> Response:
        return await verify(request, principal, id, vid)

    return router
