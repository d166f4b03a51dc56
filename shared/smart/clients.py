"""The registered backend-services clients (AUTH_CLIENTS_FILE, a JSON list).

Each registration names the client, the role its tokens carry (see shared/auth.py
Principal), the organizations it acts for and, for a user-like client, its fhirUser --
both either literal (`Organization/<id>`) or conditional by identifier
(`Organization?identifier=<system>|<value>`), resolved when a token is issued since ids
are assigned by the server -- the most scopes it may be granted, and its public keys:
inline (`jwks`) or published (`jwks_uri`). See docs/authentication.md for an example.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.auth import DEV_PRINCIPAL, SERVICE_PRINCIPAL, Principal, Role
from shared.smart.development import DEV_CLIENT_THUMBPRINTS
from shared.smart.jwks import RemoteJwks
from shared.smart.keys import PLATFORM_ALGORITHMS, KeySet
from shared.smart.scopes import invalid_scopes

_ID = r"[A-Za-z0-9\-.]{1,64}"
_CONDITIONAL = r"\?identifier=[^|&\s]+\|[^&\s]+"
ORGANIZATION_REFERENCE = re.compile(rf"^Organization(/{_ID}|{_CONDITIONAL})$")
PRACTITIONER_REFERENCE = re.compile(rf"^Practitioner(/{_ID}|{_CONDITIONAL})$")
_CONFINED_TO_ORGANIZATIONS = frozenset({"facility", "vendor"})
# The client ids of the platform's own credentials (SERVICE_TOKEN, DEV_AUTH_TOKEN): no
# registration may take them, so a principal carrying one is never a registered client.
RESERVED_CLIENT_IDS = frozenset({SERVICE_PRINCIPAL.client_id, DEV_PRINCIPAL.client_id})
log = logging.getLogger("teleradiology.auth")


class ClientRegistration(BaseModel):
    """One entry of the client registry file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(pattern=r"^[A-Za-z0-9._~\-]{1,128}$")
    description: str = ""
    role: Role
    organizations: tuple[str, ...] = ()
    fhir_user: str | None = None
    scopes: tuple[str, ...] = Field(min_length=1)
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None

    @field_validator("client_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_CLIENT_IDS:
            raise ValueError(f"{value!r} is reserved for the platform's own credentials")
        return value

    @field_validator("organizations")
    @classmethod
    def _organizations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for reference in value:
            if not ORGANIZATION_REFERENCE.match(reference):
                raise ValueError(f"{reference!r} is not Organization/<id> or ?identifier=s|v")
        return value

    @field_validator("fhir_user")
    @classmethod
    def _fhir_user(cls, value: str | None) -> str | None:
        if value is not None and not PRACTITIONER_REFERENCE.match(value):
            raise ValueError(f"{value!r} is not Practitioner/<id> or ?identifier=s|v")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = invalid_scopes(value)
        if unknown:
            raise ValueError(f"not SMART resource scopes: {' '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClientRegistration:
        if (self.jwks is None) == (self.jwks_uri is None):
            raise ValueError("register exactly one of jwks and jwks_uri")
        if self.jwks_uri is not None and not self.jwks_uri.startswith(("https://", "http://")):
            raise ValueError("jwks_uri must be an http(s) URL")
        if self.role in _CONFINED_TO_ORGANIZATIONS and not self.organizations:
            raise ValueError(f"a {self.role} client needs its organizations")
        if self.role == "radiologist" and self.fhir_user is None:
            raise ValueError("a radiologist client needs its fhir_user")
        if self.jwks is not None:
            KeySet.parse(self.jwks, algorithms=PLATFORM_ALGORITHMS)  # ValueError if malformed
        return self


@dataclass(frozen=True)
class RegisteredClient:
    """A registration with its keys, inline or fetched from its `jwks_uri`."""

    registration: ClientRegistration
    keys: KeySet | RemoteJwks

    @property
    def client_id(self) -> str:
        return self.registration.client_id

    async def key(self, http: httpx.AsyncClient, kid: str, algorithm: str) -> Any:
        """The client's public key `kid` for an `algorithm` signature (KeyRejected when it
        has none such; JwksUnavailable when its jwks_uri cannot be fetched)."""
        if isinstance(self.keys, KeySet):
            return self.keys.key(kid, algorithm)
        return await self.keys.key(http, kid, algorithm)


def _client(registration: ClientRegistration, jwks_ttl_seconds: float) -> RegisteredClient:
    keys: KeySet | RemoteJwks
    if registration.jwks is not None:
        keys = KeySet.parse(registration.jwks, algorithms=PLATFORM_ALGORITHMS)
    else:
        assert registration.jwks_uri is not None
        keys = RemoteJwks(
            registration.jwks_uri, algorithms=PLATFORM_ALGORITHMS, ttl_seconds=jwks_ttl_seconds
        )
    return RegisteredClient(registration=registration, keys=keys)


def _refuse_unsafe(registration: ClientRegistration, keys: KeySet | RemoteJwks) -> None:
    """Outside development: no development client key, no plain-http jwks_uri."""
    where = f"AUTH_CLIENTS_FILE: client {registration.client_id}"
    if isinstance(keys, KeySet) and keys.thumbprints() & DEV_CLIENT_THUMBPRINTS:
        raise ValueError(f"{where}: development keys are refused outside development")
    if registration.jwks_uri is not None and not registration.jwks_uri.startswith("https://"):
        raise ValueError(f"{where}: jwks_uri must be https outside development")


def load_clients(
    path: Path | None, *, development: bool, jwks_ttl_seconds: float
) -> dict[str, RegisteredClient]:
    """The clients registered in the file at `path` (none without one), by client_id;
    ValueError naming the client when an entry is malformed or unsafe."""
    if path is None:
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"AUTH_CLIENTS_FILE {path}: {type(error).__name__}") from None
    if not isinstance(entries, list):
        raise ValueError("AUTH_CLIENTS_FILE must hold a JSON list of clients")
    clients: dict[str, RegisteredClient] = {}
    for index, entry in enumerate(entries):
        try:
            registration = ClientRegistration.model_validate(entry)
        except ValidationError as error:
            raise ValueError(f"AUTH_CLIENTS_FILE entry {index}: {error}") from None
        if registration.client_id in clients:
            raise ValueError(f"AUTH_CLIENTS_FILE: client {registration.client_id} appears twice")
        client = _client(registration, jwks_ttl_seconds)
        if not development:
            _refuse_unsafe(registration, client.keys)
        clients[registration.client_id] = client
    return clients


def registered_client_id(principal: Principal) -> str | None:
    """The registered client whose access token `principal` presented; None for the
    platform's own credentials and for a user token of the identity provider (whose client
    is the provider's, not one of AUTH_CLIENTS_FILE)."""
    if principal.user is not None or principal.client_id in RESERVED_CLIENT_IDS:
        return None
    return principal.client_id


class ClientRegistry:
    """The clients registered in AUTH_CLIENTS_FILE, read again whenever the file changes,
    so that a registration added or withdrawn takes effect without a restart. A file that
    is malformed at start-up is refused (ValueError); one that becomes unreadable or
    malformed later leaves the last good registry in force (logged), so that a half-written
    edit never withdraws every client at once."""

    def __init__(self, path: Path | None, *, development: bool, jwks_ttl_seconds: float) -> None:
        self.path = path
        self.development = development
        self.jwks_ttl_seconds = jwks_ttl_seconds
        self._version = self._file_version()
        self._clients = self._load()

    def clients(self) -> dict[str, RegisteredClient]:
        """The registered clients, by client_id, as the file says now."""
        version = self._file_version()
        if version != self._version:
            self._version = version  # tried once per change: a fixed file changes again
            try:
                self._clients = self._load()
            except ValueError as error:
                log.error(
                    "AUTH_CLIENTS_FILE not reloaded: the registered clients are unchanged",
                    extra={"reason": str(error)},
                )
        return self._clients

    def __contains__(self, client_id: object) -> bool:
        return client_id in self.clients()

    def _load(self) -> dict[str, RegisteredClient]:
        return load_clients(
            self.path, development=self.development, jwks_ttl_seconds=self.jwks_ttl_seconds
        )

    def _file_version(self) -> tuple[int, int, int] | None:
        # The inode too: a Kubernetes ConfigMap volume swaps in a new file through a symlink.
        if self.path is None:
            return None
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
