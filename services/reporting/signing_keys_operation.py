"""`GET [base]/Provenance/$signing-keys`: the public keys report signatures are made with.

A type operation of this platform (OperationDefinition: OPERATION.definition). The answer
is a JSON Web Key Set (RFC 7517, `application/jwk-set+json`), not a FHIR resource, so that
an EHR verifies a signature with any JOSE library: take the Provenance's
`signature.data`, base64-decode it to the compact JWS, read the version it targets
(vread), form its canonical JSON (docs/reporting.md, "Signatures"), and check the JWS with
the key whose `kid` its header names. Each key also names its signer (`sub`, the
Practitioner); keys are never withdrawn, so old signatures stay verifiable.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from services.reporting.keys import published_keys
from shared.audit.trail import accessed, note
from shared.auth import CurrentPrincipal
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.registry import Operation

OPERATION = Operation(
    name="signing-keys",
    definition=f"{CANONICAL_BASE}/OperationDefinition/Provenance-signing-keys",
    documentation="The radiologists' public signing keys as a JWKS (application/jwk-set+json): "
    "Provenance/$signing-keys",
)
JWK_SET = "application/jwk-set+json"


def signing_keys_router() -> APIRouter:
    router = APIRouter(tags=["reporting"])

    @router.get("/Provenance/$signing-keys", summary="The public keys of report signatures")
    async def signing_keys(request: Request, principal: CurrentPrincipal) -> Response:
        principal.require("Provenance", "r")
        async with request.app.state.database.transaction() as session:
            keys = await published_keys(session)
        note(request, accessed("operation", "Provenance", object_path="Provenance/$signing-keys"))
        body = {"keys": [{**key.jwk, "sub": key.signer} for key in keys]}
        return Response(orjson.dumps(body), media_type=JWK_SET)

    return router
