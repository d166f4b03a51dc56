"""The authentication settings as the services use them: the platform's keys, the client
registry and the OpenID Connect provider, with the checks that refuse unsafe ones at start.

In development, what is not set falls back to the committed development material
(deploy/dev/auth/, see development.py); outside development the platform's public keys
must be configured and the development keys are refused -- as SERVICE_TOKEN and
EVENTS_SIGNING_SECRET are (shared/settings.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from shared.smart.development import (
    DEV_CLIENTS_FILE,
    DEV_PLATFORM_THUMBPRINT,
    DEV_SIGNING_KEY_FILE,
    development_file,
)
from shared.smart.keys import PLATFORM_ALGORITHMS, KeyRejected, KeySet, SigningKey
from shared.smart.scopes import invalid_scopes, split_scopes

if TYPE_CHECKING:
    from shared.settings import ServiceSettings

DEV_KEY_REFUSED = "the development key pair (deploy/dev/auth) is refused outside development"


def _configured_signing_key(settings: ServiceSettings) -> SigningKey | None:
    if settings.auth_signing_key is None:
        return None
    try:
        return SigningKey.from_pem(settings.auth_signing_key.get_secret_value())
    except KeyRejected as error:
        raise ValueError(f"AUTH_SIGNING_KEY: {error}") from None


def _configured_verify_keys(settings: ServiceSettings) -> KeySet | None:
    if settings.auth_verify_jwks is None:
        return None
    try:
        return KeySet.parse(json.loads(settings.auth_verify_jwks), algorithms=PLATFORM_ALGORITHMS)
    except (ValueError, KeyRejected) as error:
        raise ValueError(f"AUTH_VERIFY_JWKS: {error}") from None


def _check_oidc(settings: ServiceSettings) -> None:
    values = (settings.oidc_issuer, settings.oidc_jwks_url, settings.oidc_audience)
    if any(values) and not all(values):
        raise ValueError("OIDC_ISSUER, OIDC_JWKS_URL and OIDC_AUDIENCE are set together")
    url = settings.oidc_jwks_url
    secure = ("https://",) if settings.environment != "development" else ("https://", "http://")
    if url is not None and not url.startswith(secure):
        raise ValueError("OIDC_JWKS_URL must be an https URL (http only in development)")
    unknown = invalid_scopes(split_scopes(settings.oidc_scopes))
    if unknown:
        raise ValueError(f"OIDC_SCOPES: not SMART resource scopes: {' '.join(unknown)}")


def check_auth_settings(settings: ServiceSettings) -> None:
    """Refuse unusable or unsafe authentication settings (ValueError naming the variable)."""
    signing = _configured_signing_key(settings)
    verify = _configured_verify_keys(settings)
    if signing is not None and verify is not None and signing.kid not in verify.thumbprints():
        raise ValueError("AUTH_VERIFY_JWKS does not hold the public key of AUTH_SIGNING_KEY")
    _check_oidc(settings)
    if settings.environment == "development":
        return
    if verify is None:
        raise ValueError("AUTH_VERIFY_JWKS must be set outside development")
    if DEV_PLATFORM_THUMBPRINT in verify.thumbprints() or (
        signing is not None and signing.kid == DEV_PLATFORM_THUMBPRINT
    ):
        raise ValueError(DEV_KEY_REFUSED)


def platform_signing_key(settings: ServiceSettings) -> SigningKey | None:
    """AUTH_SIGNING_KEY; in development, unset, the development key (when present)."""
    signing = _configured_signing_key(settings)
    if signing is None and settings.environment == "development":
        pem = development_file(DEV_SIGNING_KEY_FILE)
        signing = SigningKey.from_pem(pem) if pem is not None else None
    return signing


def platform_verify_keys(settings: ServiceSettings) -> KeySet | None:
    """AUTH_VERIFY_JWKS; unset (development only), the public half of the signing key."""
    verify = _configured_verify_keys(settings)
    if verify is None:
        signing = platform_signing_key(settings)
        if signing is not None:
            verify = KeySet.parse(signing.jwks(), algorithms=PLATFORM_ALGORITHMS)
    return verify


def clients_file(settings: ServiceSettings) -> Path | None:
    """AUTH_CLIENTS_FILE; in development, unset, the development clients (when present)."""
    if settings.auth_clients_file is not None:
        return settings.auth_clients_file
    if settings.environment == "development" and DEV_CLIENTS_FILE.is_file():
        return DEV_CLIENTS_FILE
    return None
