"""OperationOutcome errors: one exception type, named constructors, one status mapping.

Error hierarchy::

    FhirError                      carries an OperationOutcome and an HTTP status
      (all built by the named constructors below; callers never pick a status by hand)

Every error a client sees is produced here, so the shape is the same everywhere and no
message ever carries resource contents (no PHI): constructors take wording written by the
server, never text copied from the request body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Issue type (http://hl7.org/fhir/ValueSet/issue-type) -> HTTP status for errors.
_STATUS_BY_CODE: dict[str, int] = {
    "invalid": 400,
    "structure": 400,
    "required": 400,
    "value": 400,
    "invariant": 400,
    "security": 403,
    "login": 401,
    "forbidden": 403,
    "not-found": 404,
    "deleted": 410,
    "not-supported": 400,
    "duplicate": 409,
    "multiple-matches": 412,
    "conflict": 409,
    "business-rule": 422,
    "processing": 422,
    "too-costly": 400,
    "throttled": 429,
    "exception": 500,
    "timeout": 504,
    "transient": 503,
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue."""

    code: str
    diagnostics: str
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """Render issues as an OperationOutcome resource."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def information(diagnostics: str, code: str = "informational") -> dict[str, Any]:
    """A single informational OperationOutcome (for successful deletes, Prefer outcomes)."""
    return operation_outcome([Issue(code=code, diagnostics=diagnostics, severity="information")])


@dataclass(eq=False)
class FhirError(Exception):
    """A failure the client sees as an OperationOutcome with `status`."""

    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)

    def at(self, prefix: str) -> FhirError:
        """The same error with every expression re-rooted under `prefix` (e.g. Bundle.entry[2])."""
        self.issues = [
            Issue(
                code=i.code,
                diagnostics=i.diagnostics,
                severity=i.severity,
                expression=tuple(f"{prefix}.{e}" for e in i.expression) or (prefix,),
            )
            for i in self.issues
        ]
        return self


def _error(code: str, diagnostics: str, expression: str | list[str] | None = None) -> FhirError:
    expr: tuple[str, ...]
    if expression is None:
        expr = ()
    elif isinstance(expression, str):
        expr = (expression,)
    else:
        expr = tuple(expression)
    return FhirError(_STATUS_BY_CODE[code], [Issue(code, diagnostics, expression=expr)])


def bad_request(diagnostics: str, expression: str | list[str] | None = None) -> FhirError:
    return _error("invalid", diagnostics, expression)


def invalid_resource(issues: list[Issue]) -> FhirError:
    """Structural validation failures (400), one issue per failing element."""
    return FhirError(400, issues)


def business_rule(diagnostics: str, expression: str | list[str] | None = None) -> FhirError:
    return _error("business-rule", diagnostics, expression)


def not_found(diagnostics: str) -> FhirError:
    return _error("not-found", diagnostics)


def gone(diagnostics: str) -> FhirError:
    return _error("deleted", diagnostics)


def not_supported(diagnostics: str, expression: str | None = None) -> FhirError:
    return _error("not-supported", diagnostics, expression)


def precondition_failed(diagnostics: str) -> FhirError:
    err = _error("conflict", diagnostics)
    err.status = 412
    return err


def multiple_matches(diagnostics: str) -> FhirError:
    return _error("multiple-matches", diagnostics)


def conflict(diagnostics: str) -> FhirError:
    return _error("conflict", diagnostics)


def method_not_allowed(diagnostics: str) -> FhirError:
    err = _error("not-supported", diagnostics)
    err.status = 405
    return err


def unsupported_media_type(diagnostics: str) -> FhirError:
    err = _error("not-supported", diagnostics)
    err.status = 415
    return err


def not_acceptable(diagnostics: str) -> FhirError:
    err = _error("not-supported", diagnostics)
    err.status = 406
    return err


def unauthorized(diagnostics: str) -> FhirError:
    err = _error("login", diagnostics)
    err.headers = {"WWW-Authenticate": 'Bearer realm="fhir"'}
    return err


def forbidden(diagnostics: str) -> FhirError:
    return _error("forbidden", diagnostics)


def payload_too_large(diagnostics: str) -> FhirError:
    err = _error("too-costly", diagnostics)
    err.status = 413
    return err


def too_costly(diagnostics: str, expression: str | None = None) -> FhirError:
    """A request the server will not run at its size (too many parameters, say): 400."""
    return _error("too-costly", diagnostics, expression)


def uri_too_long(diagnostics: str) -> FhirError:
    err = _error("too-costly", diagnostics)
    err.status = 414
    return err


def throttled(diagnostics: str, retry_after_seconds: int) -> FhirError:
    """429: the client sent more than its rate limit allows; it may retry after the wait."""
    err = _error("throttled", diagnostics)
    err.headers = {"Retry-After": str(retry_after_seconds)}
    return err


def internal_error() -> FhirError:
    return _error("exception", "The server failed to process the request; it has been logged.")


def unavailable(diagnostics: str) -> FhirError:
    return _error("transient", diagnostics)


def bad_gateway(diagnostics: str) -> FhirError:
    """An upstream service could not be reached or answered nonsense (the front door)."""
    err = _error("transient", diagnostics)
    err.status = 502
    return err


def gateway_timeout(diagnostics: str) -> FhirError:
    """An upstream service did not answer in time (the front door)."""
    return _error("timeout", diagnostics)
