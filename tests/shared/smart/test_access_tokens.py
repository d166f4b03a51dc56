"""Every service takes the platform's access tokens on their own: a token from intake's
token endpoint works at assignment with the role, organizations and scopes it was issued
with -- and anything not signed by the platform's key for this platform, or no longer
valid, is a 401 OperationOutcome with `WWW-Authenticate: Bearer`."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import Principal
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app
from tests.support.clients import TestClient, origin_client, registry_file, token_form
from tests.support.tokens import (
    TEST_SIGNING_KEY,
    bearer,
    claims_of,
    issue_token,
    new_key,
    public_key_as_hmac_secret,
    unsigned_jwt,
)

EHR = TestClient.new(
    "ehr-1",
    role="facility",
    organizations=["Organization/facility-1"],
    scopes=["system/Task.rs", "system/ServiceRequest.cruds"],
)


@pytest.fixture
async def assignment(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[FastAPI]:
    async with running_app("assignment", make_settings("assignment")) as app:
        yield app


async def test_a_token_from_intake_works_at_assignment_with_what_it_was_issued_for(
    make_settings: Callable[..., ServiceSettings], tmp_path: Path, assignment: FastAPI
) -> None:
    settings = make_settings("intake", auth_clients_file=registry_file(tmp_path, [EHR]))
    async with running_app("intake", settings) as intake, origin_client(intake) as http:
        response = await http.post("/auth/token", data=token_form(EHR.assertion()))
    token = response.json()["access_token"]

    async with client_for(assignment, headers={"Authorization": f"Bearer {token}"}) as client:
        assert (await client.get("/Task")).status_code == 200
        assert (await client.get("/Practitioner")).status_code == 403  # not in its scopes
    assert await assignment.state.authenticator.principal(token) == Principal(
        client_id="ehr-1",
        scopes=frozenset({"system/Task.rs", "system/ServiceRequest.cruds"}),
        role="facility",
        organizations=frozenset({"Organization/facility-1"}),
    )


async def test_a_token_for_any_principal_can_be_signed_for_a_test(assignment: FastAPI) -> None:
    radiologist = Principal(
        client_id="rad-1",
        scopes=frozenset({"user/Task.rus"}),
        role="radiologist",
        fhir_user="Practitioner/p-1",
    )

    async with client_for(assignment, headers=bearer(radiologist)) as client:
        assert (await client.get("/Task")).status_code == 200
    assert await assignment.state.authenticator.principal(issue_token(radiologist)) == radiologist


def _valid() -> str:
    return issue_token(role="facility", organizations=["Organization/facility-1"])


def _tampered() -> str:
    """A real token whose payload was changed to an unrestricted role, signature kept."""
    header, _, signature = _valid().split(".")
    claims = claims_of(_valid()) | {"role": "system"}
    forged = unsigned_jwt({}, claims).split(".")[1]
    return f"{header}.{forged}.{signature}"


def _signed_by_another_key_under_the_platforms_kid() -> str:
    impostor = dataclasses.replace(new_key("ec"), kid=TEST_SIGNING_KEY.kid)
    return impostor.sign(claims_of(_valid()))


REFUSED: dict[str, Callable[[], str]] = {
    "expired": lambda: issue_token(now=time.time() - 600, lifetime_seconds=300),
    "tampered payload": _tampered,
    "signed by another platform's key": lambda: issue_token(key=new_key("ec")),
    "another key under the platform's kid": _signed_by_another_key_under_the_platforms_kid,
    "alg none": lambda: unsigned_jwt(
        {"alg": "none", "kid": TEST_SIGNING_KEY.kid}, claims_of(_valid())
    ),
    "HS384 with the platform's public key": lambda: public_key_as_hmac_secret(
        TEST_SIGNING_KEY, claims_of(_valid()), "HS384"
    ),
    "another platform's audience": lambda: issue_token(
        settings=ServiceSettings.model_construct(public_base_url="https://elsewhere.example")
    ),
    "another issuer": lambda: TEST_SIGNING_KEY.sign(
        claims_of(_valid()) | {"iss": "https://idp.example/auth"}
    ),
    "no exp": lambda: TEST_SIGNING_KEY.sign(
        {k: v for k, v in claims_of(_valid()).items() if k != "exp"}
    ),
    "an unknown role": lambda: TEST_SIGNING_KEY.sign(claims_of(_valid()) | {"role": "root"}),
    "not a JWT": lambda: "definitely-not-a-token",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_token_not_valid_here_is_refused(assignment: FastAPI, case: str) -> None:
    token = REFUSED[case]()

    async with client_for(assignment, headers={"Authorization": f"Bearer {token}"}) as client:
        response = await client.get("/Task")

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_during_a_key_rotation_tokens_of_either_key_are_accepted(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    old = new_key("rsa")
    jwks = json.dumps({"keys": [TEST_SIGNING_KEY.public_jwk, old.public_jwk]})
    async with running_app("sla", make_settings("sla", auth_verify_jwks=jwks)) as sla:
        for key in (TEST_SIGNING_KEY, old):
            async with client_for(sla, headers=bearer(key=key)) as client:
                assert (await client.get("/DetectedIssue")).status_code == 200


async def test_a_verified_token_is_remembered_until_it_expires(assignment: FastAPI) -> None:
    authenticator = assignment.state.authenticator
    token = issue_token(lifetime_seconds=60)

    first = await authenticator.principal(token)
    authenticator.platform = None  # no verifier left: only the memory can answer
    again = await authenticator.principal(token)

    assert again == first
    with pytest.raises(Exception, match="not valid"):
        await authenticator.principal(issue_token(lifetime_seconds=61))


async def test_no_bearer_token_is_a_401(assignment: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=assignment), base_url="http://testserver/fhir"
    ) as anonymous:
        response = await anonymous.get("/Task")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
