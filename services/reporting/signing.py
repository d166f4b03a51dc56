"""Signatures of report versions: a Provenance carrying a JWS, made in the write's own
transaction (docs/reporting.md, "Signatures").

Every final, amended, corrected or appended version is signed by the radiologist who
wrote it, as the service stores it: a Provenance whose `target` is that exact version
(`DiagnosticReport/<id>/_history/<vid>`), activity verify, the radiologist as the
`verifier` agent, and one `signature` (type Verification Signature / proof of approval,
`sigFormat` application/jose, `targetFormat` application/fhir+json) whose `data` is the
base64 of a compact JWS with detached payload (RFC 7515 appendix F), ES256, with the
radiologist's key (keys.py; `kid` names it).

The signed payload is the version's canonical JSON, FHIR's
http://hl7.org/fhir/canonicalization/json#static: the resource without `meta` and `text`
(in contained resources too), object keys sorted, no insignificant whitespace, UTF-8. A
verifier reads the version (vread), forms the same bytes, and checks the JWS with the
public key of its `kid`, published as a JWKS at `[base]/Provenance/$signing-keys`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import keys
from shared.fhir.registry import WriteContext
from shared.fhir.service import store_alongside
from shared.fhir.storage.records import StoredResource
from shared.smart.keys import KeyRejected, verification_key

CANONICALIZATION = "http://hl7.org/fhir/canonicalization/json#static"
JOSE = "application/jose"
FHIR_JSON = "application/fhir+json"
SIGNATURE_TYPES = (
    {
        "system": "urn:iso-astm:E1762-95:2013",
        "code": "1.2.840.10065.1.12.1.5",
        "display": "Verification Signature",
    },
    {"system": "http://uri.etsi.org/01903/v1.2.2", "code": "ProofOfapproval"},
)
VERIFY_ACTIVITY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "VRF",
            "display": "verifier",
        }
    ],
    "text": "verify",
}
VERIFIER = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "verifier",
            "display": "Verifier",
        }
    ]
}


def canonical(resource: dict[str, Any]) -> bytes:
    """The bytes a report version's signature covers (#static canonical JSON)."""
    return orjson.dumps(_without_meta_and_text(resource), option=orjson.OPT_SORT_KEYS)


def _without_meta_and_text(resource: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in resource.items() if k not in ("meta", "text")}
    if isinstance(kept.get("contained"), list):
        kept["contained"] = [
            _without_meta_and_text(c) if isinstance(c, dict) else c for c in kept["contained"]
        ]
    return kept


def versioned(stored: StoredResource) -> str:
    return f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}"


async def sign_version(
    stored: StoredResource, *, signer: str, signed_at: str, secret: str, context: WriteContext
) -> StoredResource:
    """Sign the stored report version as `signer` (Practitioner reference): its Provenance,
    stored in this transaction and seen by whoever sees the report."""
    session: AsyncSession = context.repository.session
    key = await keys.signing_key_of(session, signer, secret=secret)
    jws = jwt.api_jws.PyJWS().encode(
        canonical(stored.resource()),
        key.key,
        algorithm=keys.ALGORITHM,
        headers={"kid": key.kid},
        is_payload_detached=True,
    )
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": versioned(stored)}],
        "recorded": signed_at,
        "activity": VERIFY_ACTIVITY,
        "agent": [{"type": VERIFIER, "who": {"reference": signer}}],
        "signature": [
            {
                "type": list(SIGNATURE_TYPES),
                "when": signed_at,
                "who": {"reference": signer},
                "targetFormat": FHIR_JSON,
                "sigFormat": JOSE,
                "data": base64.b64encode(jws.encode()).decode(),
            }
        ],
    }
    labels = await context.repository.unconfined().labels([stored.pk])
    return await store_alongside(context, provenance, labels=labels)


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether one signature holds for one report version, and why not."""

    valid: bool
    reason: str | None = None
    signer: str | None = None
    kid: str | None = None
    signed_at: str | None = None


async def verify_signature(
    session: AsyncSession, version: dict[str, Any], provenance: dict[str, Any]
) -> Verification:
    """Check `provenance`'s JOSE signature against the report `version` as stored."""
    signature = next(
        (s for s in provenance.get("signature") or [] if s.get("sigFormat") == JOSE), None
    )
    if signature is None:
        return Verification(False, "The Provenance carries no JOSE signature")
    who = (signature.get("who") or {}).get("reference")
    when = signature.get("when")
    try:
        token = base64.b64decode(signature.get("data") or "", validate=True)
        header = jwt.api_jws.PyJWS().get_unverified_header(token)
    except (binascii.Error, ValueError, jwt.PyJWTError):
        return Verification(False, "The signature is not a JWS", who, None, when)
    kid = str(header.get("kid") or "")
    published = await keys.public_key(session, kid) if kid else None
    if published is None:
        return Verification(False, "The signature names no key of this service", who, kid, when)
    if published.signer != who:
        return Verification(False, "The key is not the signer's", who, kid, when)
    try:
        key = verification_key(published.jwk, keys.ALGORITHM)
        jwt.api_jws.PyJWS().decode_complete(
            token, key, algorithms=[keys.ALGORITHM], detached_payload=canonical(version)
        )
    except (KeyRejected, jwt.PyJWTError):
        return Verification(
            False, "The report version differs from what was signed", who, kid, when
        )
    return Verification(True, None, who, kid, when)
