"""The definitions of reporting's resources: the codes, extensions and operations of
reports, signatures and critical results (docs/fhir.md; the representation itself is
described in docs/reporting.md)."""

from __future__ import annotations

from services.reporting.signing_keys_operation import OPERATION as SIGNING_KEYS_OPERATION
from services.reporting.verify_operation import OPERATION as VERIFY_OPERATION
from shared.fhir.conformance import Definition, OperationDefinition, OperationParameter


def _out(name: str, type_: str, documentation: str, *, min_: int = 0) -> OperationParameter:
    return OperationParameter(name, "out", documentation, type=type_, min=min_)


VERIFY = OperationDefinition(
    url=VERIFY_OPERATION.definition,
    title="Verify a report's signature",
    description=(
        "Whether the signature of one report version still holds: the Provenance signing "
        "exactly that version (target DiagnosticReport/<id>/_history/<vid>) is found and its "
        "JWS (detached payload, ES256) is checked against the version's canonical JSON "
        "(http://hl7.org/fhir/canonicalization/json#static) with the signer's published key. "
        "On the instance it checks the current version; on DiagnosticReport/<id>/_history/"
        "<vid>/$verify, that version. A version changed after signing no longer verifies."
    ),
    code=VERIFY_OPERATION.name,
    resources=("DiagnosticReport",),
    instance=True,
    parameters=(
        _out("valid", "boolean", "Whether the signature holds for the version", min_=1),
        _out(
            "report",
            "Reference",
            "The version checked (DiagnosticReport/<id>/_history/<vid>)",
            min_=1,
        ),
        _out("provenance", "Provenance", "The signature checked, when one is recorded"),
        _out("signer", "Reference", "Who signed (Practitioner)"),
        _out("kid", "string", "The key the signature names (RFC 7638 thumbprint)"),
        _out("signed-at", "instant", "When it was signed"),
        _out("reason", "string", "Why the signature does not hold"),
    ),
)

SIGNING_KEYS = OperationDefinition(
    url=SIGNING_KEYS_OPERATION.definition,
    title="Report signing keys",
    description=(
        "The radiologists' public signing keys as a JSON Web Key Set (application/"
        "jwk-set+json; each key with kid = its RFC 7638 thumbprint, alg ES256 and sub = the "
        "signing Practitioner), for verifying report signatures without the platform."
    ),
    code=SIGNING_KEYS_OPERATION.name,
    resources=("Provenance",),
    type=True,
    parameters=(
        _out("return", "Binary", "The JWKS (returned as is, not wrapped in Parameters)", min_=1),
    ),
)

DEFINITIONS: tuple[Definition, ...] = (VERIFY, SIGNING_KEYS)
