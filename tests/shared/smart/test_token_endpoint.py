"""The token endpoint (`POST /auth/token` at intake): SMART Backend Services clients, with
keys generated here, get short-lived access tokens -- and every rule of the assertion is
enforced, each answered as an OAuth 2.0 error (JSON, never an OperationOutcome)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from services.intake.codes import NPI_SYSTEM
from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app
from tests.support.clients import TestClient, origin_client, registry_file, token_form
from tests.support.rest import create
from tests.support.tokens import (
    TEST_SIGNING_KEY,
    claims_of,
    new_key,
    public_key_as_hmac_secret,
    unsigned_jwt,
)

ES = TestClient.new("es-client", kind="ec", role="admin", scopes=["system/Organization.cruds"])
RS = TestClient.new(
    "rs-client",
    kind="rsa",
    role="system",
    scopes=["system/Task.rs", "system/Organization.cruds", "system/Patient.r"],
)
NPI = "1003000126"
EHR = TestClient.new(
    "ehr-mercy",
    role="facility",
    organizations=[f"Organization?identifier={NPI_SYSTEM}|{NPI}"],
    scopes=["system/ServiceRequest.cruds", "system/Organization.rs"],
)
CLIENTS = [ES, RS, EHR]


@dataclass
class TokenEndpoint:
    app: FastAPI
    http: httpx.AsyncClient  # no Authorization header: the token endpoint needs none

    async def request(self, form: dict[str, str]) -> httpx.Response:
        return await self.http.post("/auth/token", data=form)

    async def token(self, client: TestClient, scope: str | None = None) -> dict[str, Any]:
        response = await self.request(token_form(client.assertion(), scope))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def verified_claims(access_token: str) -> dict[str, Any]:
    """The claims of an access token, checked against the suite's platform key."""
    return jwt.decode(
        access_token,
        TEST_SIGNING_KEY.private_key.public_key(),
        algorithms=["ES384"],
        audience="http://localhost/fhir",
    )


@pytest.fixture
def intake_settings(
    make_settings: Callable[..., ServiceSettings], tmp_path: Path
) -> ServiceSettings:
    return make_settings("intake", auth_clients_file=registry_file(tmp_path, CLIENTS))


@pytest.fixture
async def endpoint(intake_settings: ServiceSettings) -> AsyncIterator[TokenEndpoint]:
    async with running_app("intake", intake_settings) as app, origin_client(app) as http:
        yield TokenEndpoint(app, http)


# -- tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("client", [ES, RS], ids=["ES384", "RS384"])
async def test_a_registered_client_gets_a_short_lived_bearer_token(
    endpoint: TokenEndpoint, client: TestClient
) -> None:
    response = await endpoint.request(token_form(client.assertion()))

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    assert answer["token_type"] == "bearer"
    assert 0 < answer["expires_in"] <= 300
    assert "refresh_token" not in answer
    claims = verified_claims(answer["access_token"])
    assert claims["sub"] == client.client_id
    assert claims["iss"] == "http://localhost/auth"
    assert claims["role"] == client.registration["role"]
    assert claims["exp"] - claims["iat"] <= 300
    assert claims["exp"] <= time.time() + 300
    assert set(claims["scope"].split()) == set(answer["scope"].split())


async def test_a_facility_token_names_the_organization_its_registration_identifies(
    endpoint: TokenEndpoint,
) -> None:
    async with client_for(endpoint.app) as fhir:
        organization = await create(
            fhir,
            {
                "resourceType": "Organization",
                "identifier": [{"system": NPI_SYSTEM, "value": NPI}],
                "name": "Mercy General Hospital",
            },
        )

    claims = verified_claims((await endpoint.token(EHR))["access_token"])

    assert claims["role"] == "facility"
    assert claims["organizations"] == [f"Organization/{organization['id']}"]


async def test_no_token_while_the_registered_organization_is_unknown(
    endpoint: TokenEndpoint,
) -> None:
    response = await endpoint.request(token_form(EHR.assertion()))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# -- scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (None, {"system/Task.rs", "system/Organization.cruds", "system/Patient.r"}),
        ("system/*.rs", {"system/Task.rs", "system/Organization.rs", "system/Patient.r"}),
        ("system/Task.cruds", {"system/Task.rs"}),
        (
            "system/Task.read system/Organization.write",
            {"system/Task.rs", "system/Organization.cud"},
        ),
        ("system/Task.s openid system/Practitioner.rs", {"system/Task.s"}),
        ("system/*.cruds", {"system/Task.rs", "system/Organization.cruds", "system/Patient.r"}),
    ],
)
async def test_granted_scopes_are_the_request_narrowed_to_the_registration(
    endpoint: TokenEndpoint, requested: str | None, granted: set[str]
) -> None:
    answer = await endpoint.token(RS, scope=requested)

    assert set(answer["scope"].split()) == granted
    assert set(verified_claims(answer["access_token"])["scope"].split()) == granted


@pytest.mark.parametrize("requested", ["system/Practitioner.rs", "user/Task.rs", "openid"])
async def test_asking_only_for_what_the_registration_lacks_is_invalid_scope(
    endpoint: TokenEndpoint, requested: str
) -> None:
    response = await endpoint.request(token_form(RS.assertion(), requested))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


# -- the assertion's rules ----------------------------------------------------------------


def _claims(client: TestClient) -> dict[str, Any]:
    return claims_of(client.assertion())


OTHER = TestClient.new("not-registered")
# Each rule broken, and what the refusal says (so that each test fails for its own reason).
REFUSED: dict[str, tuple[Callable[[], str], str]] = {
    "iss is not sub": (lambda: ES.assertion(sub="rs-client"), "iss and sub"),
    "iss and sub name another client": (
        lambda: ES.assertion(iss="rs-client", sub="rs-client"),
        "no registered key has this kid",
    ),
    "wrong aud": (lambda: ES.assertion(aud="http://testserver/other/token"), "aud must be"),
    "aud is the FHIR base": (lambda: ES.assertion(aud="http://testserver/fhir"), "aud must be"),
    "exp missing": (lambda: ES.assertion(exp=None), "lacks its exp"),
    "exp past": (lambda: ES.assertion(exp=int(time.time()) - 60), "expired"),
    "exp more than 5 minutes ahead": (
        lambda: ES.assertion(exp=int(time.time()) + 400),
        "at most 5 minutes",
    ),
    "jti missing": (lambda: ES.assertion(jti=None), "lacks its jti"),
    "alg none": (
        lambda: unsigned_jwt({"alg": "none", "kid": ES.key.kid}, _claims(ES)),
        "RS384 or ES384",
    ),
    "HS384 with the public key": (
        lambda: public_key_as_hmac_secret(ES.key, _claims(ES), "HS384"),
        "RS384 or ES384",
    ),
    "RS256 is not RS384": (lambda: RS.assertion(algorithm="RS256"), "RS384 or ES384"),
    "unknown kid": (
        lambda: ES.assertion(headers={"kid": "no-such-key"}),
        "no registered key has this kid",
    ),
    "no kid": (lambda: unsigned_jwt({"alg": "ES384"}, _claims(ES)), "must name its key"),
    "kid of another client": (
        lambda: ES.assertion(key=RS.key),
        "no registered key has this kid",
    ),
    "signed by another key under the client's kid": (
        lambda: ES.assertion(key=new_key("ec"), headers={"kid": ES.key.kid}),
        "signature does not verify",
    ),
    "RS384 header on the client's EC key": (
        lambda: ES.assertion(key=new_key("rsa"), headers={"kid": ES.key.kid}),
        "RS384 does not match",
    ),
    "ES384 header on the client's RSA key": (
        lambda: RS.assertion(key=new_key("ec"), headers={"kid": RS.key.kid}),
        "ES384 does not match",
    ),
    "client not registered": (lambda: OTHER.assertion(), "not registered"),
    "not a JWT": (lambda: "not-a-jwt", "not a signed JWT"),
}


@pytest.mark.parametrize("rule", sorted(REFUSED))
async def test_an_assertion_breaking_a_rule_is_refused(endpoint: TokenEndpoint, rule: str) -> None:
    assertion, reason = REFUSED[rule]

    response = await endpoint.request(token_form(assertion()))

    assert response.status_code == 401, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "invalid_client"
    assert reason in response.json()["error_description"]


async def test_an_assertion_is_good_for_one_token_only(endpoint: TokenEndpoint) -> None:
    assertion = ES.assertion()

    first = await endpoint.request(token_form(assertion))
    again = await endpoint.request(token_form(assertion))

    assert first.status_code == 200
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"
    assert "used before" in again.json()["error_description"]


async def test_a_replay_is_refused_by_another_replica_on_the_same_database(
    intake_settings: ServiceSettings,
) -> None:
    async with (
        running_app("intake", intake_settings) as one,
        running_app("intake", intake_settings) as other,
        origin_client(one) as first,
        origin_client(other) as second,
    ):
        assertion = ES.assertion()
        answers = [
            await first.post("/auth/token", data=token_form(assertion)),
            await second.post("/auth/token", data=token_form(assertion)),
        ]
        assert [a.status_code for a in answers] == [200, 401]

        concurrent = ES.assertion()
        raced = await asyncio.gather(
            first.post("/auth/token", data=token_form(concurrent)),
            second.post("/auth/token", data=token_form(concurrent)),
        )
        assert sorted(r.status_code for r in raced) == [200, 401]


# -- the request --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": None}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:example:other"}, "invalid_request"),
        ({"client_assertion": None}, "invalid_request"),
    ],
)
async def test_a_malformed_request_is_an_oauth_error(
    endpoint: TokenEndpoint, form: dict[str, str | None], error: str
) -> None:
    sent = {k: v for k, v in (token_form(ES.assertion()) | form).items() if v is not None}

    response = await endpoint.request(sent)  # type: ignore[arg-type]

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "resourceType" not in response.json()


async def test_the_request_must_be_a_form_with_each_parameter_once(
    endpoint: TokenEndpoint,
) -> None:
    as_json = await endpoint.http.post("/auth/token", json=token_form(ES.assertion()))
    twice = await endpoint.http.post(
        "/auth/token",
        content=str(
            httpx.QueryParams([*token_form(ES.assertion()).items(), ("grant_type", "x")])
        ).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    assert twice.status_code == 400
    assert "more than once" in twice.json()["error_description"]


async def test_a_client_id_parameter_must_name_the_assertions_client(
    endpoint: TokenEndpoint,
) -> None:
    response = await endpoint.request(token_form(ES.assertion(), client_id="rs-client"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
