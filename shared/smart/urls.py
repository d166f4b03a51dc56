"""Where clients reach the platform, as a request names it: its public origin and the token
endpoint's URL -- the one the SMART configuration and the CapabilityStatement advertise and
a client's assertion must name as its `aud`."""

from __future__ import annotations

from fastapi import Request

TOKEN_PATH = "/auth/token"


def public_origin(request: Request) -> str:
    """The origin clients reach the platform at (PUBLIC_BASE_URL, else this request's)."""
    settings = request.app.state.settings
    return str(settings.public_base_url or str(request.base_url).rstrip("/"))


def token_endpoint(origin: str) -> str:
    """The token endpoint's URL on the platform at `origin`."""
    return f"{origin}{TOKEN_PATH}"


def token_url(request: Request) -> str:
    """The token endpoint's public URL, as this request names the platform."""
    return token_endpoint(public_origin(request))
