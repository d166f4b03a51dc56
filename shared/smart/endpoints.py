"""The token endpoint (`POST /auth/token`, hosted by intake) and the discovery documents
every service serves under its FHIR base: `.well-known/smart-configuration`
(https://hl7.org/fhir/smart-app-launch/conformance.html) and `.well-known/jwks.json`, the
platform's public keys. None of them needs a bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from shared.settings import ServiceSettings
from shared.smart.config import platform_verify_keys
from shared.smart.errors import NO_STORE, OAuthError, invalid_request
from shared.smart.grants import FORM, TokenService, parse_token_request
from shared.smart.keys import PLATFORM_ALGORITHMS
from shared.smart.scopes import split_scopes
from shared.smart.urls import TOKEN_PATH, public_origin, token_endpoint

SMART_CONFIGURATION_PATH = "/.well-known/smart-configuration"
JWKS_PATH = "/.well-known/jwks.json"
MAX_TOKEN_REQUEST_BYTES = 64 * 1024
_DISCOVERY_CACHE = {"Cache-Control": "public, max-age=300"}
_TOKEN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            FORM: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "client_assertion_type", "client_assertion"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_assertion_type": {"type": "string"},
                        "client_assertion": {"type": "string"},
                        "scope": {"type": "string"},
                    },
                }
            }
        },
    }
}


async def _form_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_TOKEN_REQUEST_BYTES:
        raise invalid_request("The token request is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TOKEN_REQUEST_BYTES:
            raise invalid_request("The token request is too large")
    return bytes(body)


def token_router(tokens: TokenService) -> APIRouter:
    """`POST /auth/token`: SMART Backend Services (client_credentials, private_key_jwt)."""
    router = APIRouter(tags=["auth"])

    @router.post(TOKEN_PATH, summary="Access token for a backend client", openapi_extra=_TOKEN_FORM)
    async def token(request: Request) -> Response:
        """An access token for a registered client that proves itself with a signed
        assertion; errors are OAuth 2.0 JSON ({"error", "error_description"})."""
        try:
            body = await _form_body(request)
            token_request = parse_token_request(body, request.headers.get("content-type", ""))
            answer = await tokens.issue(request, token_request)
        except OAuthError as error:
            return error.response()
        return JSONResponse(answer, headers=NO_STORE)

    return router


def smart_configuration(settings: ServiceSettings, origin: str) -> dict[str, Any]:
    """The SMART configuration of the platform at `origin`."""
    scopes = {"system/*.cruds", "system/*.rs"}
    if settings.oidc_issuer:
        scopes |= set(split_scopes(settings.oidc_scopes))
    configuration: dict[str, Any] = {
        "token_endpoint": token_endpoint(origin),
        "jwks_uri": f"{origin}{settings.fhir_base_path}{JWKS_PATH}",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(PLATFORM_ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": sorted(scopes),
        "capabilities": ["client-confidential-asymmetric", "permission-v2"],
    }
    if settings.oidc_issuer:
        configuration["issuer"] = settings.oidc_issuer
    return configuration


def discovery_router(settings: ServiceSettings) -> APIRouter:
    """The discovery documents, to be mounted under the FHIR base."""
    router = APIRouter(tags=["auth"])
    keys = platform_verify_keys(settings)
    jwks = keys.public() if keys is not None else {"keys": []}

    @router.get(SMART_CONFIGURATION_PATH, summary="SMART configuration (no token needed)")
    async def configuration(request: Request) -> Response:
        """How to get an access token: the token endpoint, methods, algorithms, scopes."""
        document = smart_configuration(request.app.state.settings, public_origin(request))
        return JSONResponse(document, headers=_DISCOVERY_CACHE)

    @router.get(JWKS_PATH, summary="The platform's public keys (no token needed)")
    async def public_keys() -> Response:
        """The keys access tokens are signed with, for whoever verifies them."""
        return JSONResponse(jwks, headers=_DISCOVERY_CACHE)

    return router
