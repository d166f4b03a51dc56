"""Who is calling: the request principal, attached to every request, and SMART v2 scopes.

Every FHIR interaction asks the principal once (`Principal.require`) before it touches
data -- including each entry of a Bundle -- so that authorization has one place to live.
A bearer token is one of: an access token from the platform's token endpoint (SMART
Backend Services) or a user token from the configured OpenID Connect provider, both
verified by `app.state.authenticator` (shared/smart/authenticator.py); the services'
`SERVICE_TOKEN` (a shared secret from configuration), accepted as the platform's system
client; and in development only, one documented credential (`DEV_AUTH_TOKEN`, default
`dev-token`) acting as an all-access development client.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request

from shared.fhir.outcomes import FhirError, forbidden, unauthorized
from shared.ratelimit import enforce_address_limit, enforce_rate_limit
from shared.roles import within_ceiling
from shared.settings import DEV_TOKEN_DEFAULT

Interaction = Literal["c", "r", "u", "d", "s"]
_V2_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([cruds]+)$")
_V1_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$")
_V1_ACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}


Role = Literal["system", "admin", "auditor", "facility", "vendor", "radiologist"]
# Roles that see every tenant's data (their scopes still limit the resource types).
UNRESTRICTED_ROLES: frozenset[str] = frozenset({"system", "admin", "auditor"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request.

    `role` says which tenant rules apply (docs/security.md):
    - system: the platform's own services; admin: operations (roster, contracts);
      auditor: reads AuditEvents -- none of them is confined to a tenant;
    - facility: a client facility's EHR, confined to its `organizations`;
    - vendor: a partner reading group, confined to the work assigned to its `organizations`;
    - radiologist: a user whose `fhir_user` is their Practitioner, confined to their own work.
    """

    client_id: str
    scopes: frozenset[str]
    role: Role = "system"
    organizations: frozenset[str] = frozenset()  # "Organization/<id>" the client acts for
    fhir_user: str | None = None  # e.g. "Practitioner/<id>" for a user token
    user: str | None = None  # the user's subject at their identity provider, for audit

    @property
    def organization(self) -> str | None:
        """The one organization the client acts for (the first, when several)."""
        return min(self.organizations) if self.organizations else None

    @property
    def access_keys(self) -> frozenset[str] | None:
        """The access labels this caller holds; None when it is confined to no tenant.

        A resource is visible to the caller when one of its labels (or a label granted to
        one of these keys) is among them -- see shared/fhir/access.py.
        """
        if self.role in UNRESTRICTED_ROLES:
            return None
        keys = set(self.organizations)
        if self.fhir_user:
            keys.add(self.fhir_user)
        return frozenset(keys)

    def allows(self, resource_type: str, interaction: Interaction) -> bool:
        """Whether any granted SMART scope (v2 `.cruds` or v1 `.read/.write`) covers this."""
        for scope in self.scopes:
            match = _V2_SCOPE.match(scope)
            if match:
                actions = match[3]
            else:
                match = _V1_SCOPE.match(scope)
                if not match:
                    continue
                actions = _V1_ACTIONS[match[3]]
            if match[2] in ("*", resource_type) and interaction in actions:
                return True
        return False

    def require(self, resource_type: str, interaction: Interaction) -> None:
        """403 unless both a granted scope and the role's ceiling allow the interaction."""
        if not (
            within_ceiling(self.role, resource_type, interaction)
            and self.allows(resource_type, interaction)
        ):
            raise forbidden(f"The granted scopes do not allow this interaction on {resource_type}")


DEV_PRINCIPAL = Principal(client_id="dev-client", scopes=frozenset({"system/*.cruds"}))
# The platform's services calling each other with SERVICE_TOKEN (a shared secret from
# configuration, refused at its default outside development) -- the interim service
# credential until SMART Backend Services issue each service its own token.
SERVICE_PRINCIPAL = Principal(client_id="platform-service", scopes=frozenset({"system/*.cruds"}))


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


async def authenticate(request: Request) -> Principal:
    """The principal of this request, from its bearer token; 401 without a valid one, 429
    when the client -- or, failing authentication, its address -- has spent its requests."""
    try:
        principal = await _identify(request)
    except FhirError as error:
        if error.status == 401:
            enforce_address_limit(request)
        raise
    enforce_rate_limit(request, principal)
    request.state.principal = principal
    return principal


async def _identify(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise unauthorized("A bearer token is required (Authorization: Bearer <token>)")
    settings = request.app.state.settings
    presented = credential.strip()
    development = settings.environment == "development"
    if development and _same(presented, settings.dev_auth_token.get_secret_value()):
        principal = DEV_PRINCIPAL
    elif _same(presented, settings.service_token.get_secret_value()) and (
        development or settings.service_token.get_secret_value() != DEV_TOKEN_DEFAULT
    ):
        principal = SERVICE_PRINCIPAL
    else:
        authenticator = getattr(request.app.state, "authenticator", None)
        if authenticator is None:
            raise unauthorized("The bearer token is not valid")
        principal = await authenticator.principal(presented)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
