"""The callers of the hostile suite: facility EHRs, partner vendors, radiologists.

`as_caller(app, principal)` is an HTTP client of `app` authenticated as `principal` with a
bearer token carrying exactly that principal's role, organizations, user and scopes.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.auth import Principal, Role
from tests.fixtures import client_for
from tests.support.tokens import issue_token

ALL_SCOPES = frozenset({"system/*.cruds"})


def _organization_client(role: Role, organization: str) -> Principal:
    return Principal(
        client_id=f"{role}-{organization.rsplit('/', 1)[-1][:8]}",
        scopes=ALL_SCOPES,
        role=role,
        organizations=frozenset({organization}),
    )


def facility_ehr(organization: str) -> Principal:
    """A facility's EHR client, registered for everything its tenant allows."""
    return _organization_client("facility", organization)


def partner_vendor(organization: str) -> Principal:
    """A partner reading group's client."""
    return _organization_client("vendor", organization)


def radiologist(practitioner: str) -> Principal:
    """A radiologist signed in through the identity provider (fhirUser = Practitioner)."""
    return Principal(
        client_id="reading-app",
        scopes=frozenset({"user/*.cruds"}),
        role="radiologist",
        fhir_user=practitioner,
        user=f"idp|{practitioner.rsplit('/', 1)[-1]}",
    )


def as_caller(app: FastAPI, principal: Principal) -> httpx.AsyncClient:
    """A client of `app` presenting an access token for `principal`, signed as the
    platform's token endpoint signs them."""
    token = issue_token(principal, settings=app.state.settings)
    return client_for(app, headers={"Authorization": f"Bearer {token}"})
