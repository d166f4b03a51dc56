"""schemathesis against the OpenAPI of every service: whatever a client sends to any
operation, with any of the run's credentials, no service answers 5xx.

Each service runs in-process on its own fresh PostgreSQL database (the production
database, whose errors are the likelier 5xx; SQLite is not fuzzed, to keep the run
short), its lifespan started by schemathesis. Every operation of every service's OpenAPI
is a test of its own, fed cases the OpenAPI allows and cases it does not; an operation
schemathesis cannot read fails, never skips. The gateway has no OpenAPI of its own (it
relays to these). The run is bounded and repeatable: `MAX_EXAMPLES` per operation,
derandomized, no example database (about 45 s on two cores).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from scripts.local_platform import AUDIT
from shared.settings import ServiceSettings
from tests.fixtures import DEV_TOKEN, EVENTS_SECRET
from tests.support.databases import postgres_database
from tests.support.tenants import facility_ehr, partner_vendor
from tests.support.tokens import TEST_SIGNING_PEM, TEST_VERIFY_JWKS, bearer

SERVICES = ("intake", "assignment", "reporting", "sla")
MAX_EXAMPLES = 10
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def fuzz_auth_headers() -> list[dict[str, str]]:
    """The credentials each example is sent with, one drawn per example: two tenants --
    a facility's EHR and a partner vendor, each confined to its own records -- the
    development credential (no tenant, so writes reach the rules) and a forged token."""
    return [
        bearer(facility_ehr("Organization/fuzz-facility")),
        bearer(partner_vendor("Organization/fuzz-vendor")),
        {"Authorization": f"Bearer {DEV_TOKEN}"},
        {"Authorization": "Bearer not-a-token-this-platform-issued"},
    ]


def _app(service: str, database_url: str = "", audit_url: str = "") -> FastAPI:
    """`service`'s app (services/<service>/app.py), built, not started."""
    create_app = importlib.import_module(f"services.{service}.app").create_app
    app: FastAPI = create_app(_fuzz_settings(service, database_url, audit_url))
    return app


def _fuzz_settings(service: str, database_url: str, audit_url: str) -> ServiceSettings:
    return ServiceSettings(
        service_name=service,
        environment="development",
        database_url=database_url,
        audit_database_url=audit_url,
        dev_auth_token=DEV_TOKEN,
        service_token=DEV_TOKEN,
        events_signing_secret=EVENTS_SECRET,
        auth_signing_key=TEST_SIGNING_PEM,
        auth_verify_jwks=TEST_VERIFY_JWKS,
        events_enabled=False,  # no relay or notifier changing state under the run
        rate_limit_per_second=0,  # every example reaches the endpoint, none a 429
    )


def _operations() -> list[Any]:
    """(service, method, path) of every operation in every service's OpenAPI, read at
    collection from apps that are built but not started."""
    found = []
    for service in SERVICES:
        app = _app(service)
        for path, methods in sorted(app.openapi()["paths"].items()):
            for method in sorted(methods):
                label = f"{service}-{method.upper()}-{path}"
                found.append(pytest.param(service, method.upper(), path, id=label))
    return found


@pytest.fixture(scope="module")
def schemas(postgres_admin_url: str) -> Iterator[dict[str, schemathesis.BaseSchema]]:
    """Each service running on a fresh database, as schemathesis loaded its OpenAPI."""
    suffix = f"fuzz_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    loaded = {}
    audit_url = postgres_database(postgres_admin_url, AUDIT, suffix)
    try:
        for service in SERVICES:
            url = postgres_database(postgres_admin_url, service, suffix)
            app = _app(service, url, audit_url)
            base = app.state.settings.fhir_base_path
            loaded[service] = schemathesis.openapi.from_asgi(f"{base}/openapi.json", app)
        yield loaded
    finally:
        shutdown_lifespans()


def test_every_services_openapi_is_fuzzed(schemas: dict[str, schemathesis.BaseSchema]) -> None:
    for service, schema in schemas.items():
        for result in schema.get_all_operations():
            result.ok()  # raises what schemathesis could not read
        assert len(list(schema.get_all_operations())) > 5, service


@pytest.mark.parametrize(("service", "method", "path"), _operations())
def test_no_input_makes_a_service_answer_5xx(
    service: str,
    method: str,
    path: str,
    schemas: dict[str, schemathesis.BaseSchema],
    fuzz_auth_headers: list[dict[str, str]],
) -> None:
    operation = schemas[service][path][method]

    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),  # what the OpenAPI allows
        operation.as_strategy(GenerationMode.NEGATIVE),  # what it does not: wrong types, shapes
    )

    @FUZZ
    @given(case=cases, headers=st.sampled_from(fuzz_auth_headers))
    def no_server_error(case: schemathesis.Case, headers: dict[str, str]) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    no_server_error()
