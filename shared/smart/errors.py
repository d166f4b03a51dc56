"""OAuth 2.0 error answers of the token endpoint (RFC 6749 section 5.2).

The token endpoint is OAuth, not FHIR: its errors are `{"error", "error_description"}`
JSON objects, never OperationOutcomes. Descriptions are written by the server and say which
rule a request broke, never echoing what it sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(eq=False)
class OAuthError(Exception):
    """A refused token request: its RFC 6749 error code, description and HTTP status."""

    error: str
    description: str
    status: int = 400

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"

    def response(self) -> JSONResponse:
        """The error as the client sees it."""
        content = {"error": self.error, "error_description": self.description}
        return JSONResponse(content, status_code=self.status, headers=NO_STORE)


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str) -> OAuthError:
    """The client could not be authenticated (its assertion failed a check)."""
    return OAuthError("invalid_client", description, status=401)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def invalid_scope(description: str) -> OAuthError:
    return OAuthError("invalid_scope", description)


def unsupported_grant_type(description: str) -> OAuthError:
    return OAuthError("unsupported_grant_type", description)


def temporarily_unavailable(description: str) -> OAuthError:
    return OAuthError("temporarily_unavailable", description, status=503)
