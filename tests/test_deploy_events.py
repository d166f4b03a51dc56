"""Offline checks that the deployments wire the services' events to each other.

The services subscribe to each other like any subscriber (shared/events/bootstrap.py):
each keeps Subscriptions at its publishers whose endpoint is its own
``<INTERNAL_URL>/events/<name>``, calls the others at their ``<SERVICE>_URL`` with
``SERVICE_TOKEN``, and checks each notification's signature with ``EVENTS_SIGNING_SECRET``.
For both kustomize overlays and ``docker-compose.yml``:

* each service's INTERNAL_URL is its own Service (name and port), and it reaches the
  others where the gateway does;
* every publisher's endpoint policy admits every consumer's endpoint (http allowed, the
  host among SUBSCRIPTION_ALLOWED_HOSTS -- its address is then the cluster DNS's);
* what each service and each migration reads at start-up is accepted (the settings refuse
  the development secrets outside development), with the Secrets the dev overlay ships and
  those the prod overlay expects to be provided;
* the development token is the only one the services accept yet, so in dev SERVICE_TOKEN
  is the DEV_AUTH_TOKEN;
* intake signs access tokens with the key every service verifies: the development pair
  and clients in dev, the provided pair in prod;
* every service reads the client registry intake issues tokens from (it turns off the
  subscriptions of a withdrawn client).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from scripts.local_platform import consumptions_of
from shared.events.bootstrap import endpoint_of
from shared.events.runtime import subscription_owners
from shared.settings import ServiceSettings
from shared.smart.config import platform_verify_keys
from shared.smart.development import DEV_PLATFORM_THUMBPRINT
from shared.smart.grants import TokenService
from tests.support.manifests import (
    GATEWAY,
    OVERLAYS,
    SERVICES,
    Doc,
    _deployments,
    _listen_port,
    _load_compose,
    _of_kind,
    _plain_env,
    _pod_spec,
    _render,
    _service_ports,
)
from tests.support.tokens import TEST_SIGNING_PEM, TEST_VERIFY_JWKS

# What the prod overlay's externally managed Secrets hold, for the settings check.
PROVIDED = {
    "DATABASE_URL": "postgresql+asyncpg://teleradiology:secret@db.example.com:5432/app",
    "AUDIT_DATABASE_URL": "postgresql+asyncpg://teleradiology:secret@db.example.com:5432/audit",
    "SERVICE_TOKEN": "a-service-token-from-the-secret-manager-0123456789",
    "EVENTS_SIGNING_SECRET": "an-events-signing-secret-from-the-secret-manager",
    "REPORT_SIGNING_KEY_SECRET": "a-report-signing-key-secret-from-the-secret-manager",
    "AUTH_SIGNING_KEY": TEST_SIGNING_PEM,
    "AUTH_VERIFY_JWKS": TEST_VERIFY_JWKS,
}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _secret_values(docs: tuple[Doc, ...], container: Doc) -> dict[str, str]:
    """The container's variables from Secrets: the overlay's own, else what would be
    provided (prod); an optional reference to a missing Secret sets nothing."""
    secrets = {s["metadata"]["name"]: s for s in _of_kind(docs, "Secret")}
    values = {}
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            continue
        secret = secrets.get(ref["name"])
        if secret is not None:
            values[entry["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        elif not ref.get("optional"):
            values[entry["name"]] = PROVIDED[ref["key"]]
    return values


def _k8s_env(docs: tuple[Doc, ...], workload: Doc) -> dict[str, str]:
    container = _pod_spec(workload)["containers"][0]
    return _plain_env(docs, container) | _secret_values(docs, container)


def _settings(
    service: str, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> ServiceSettings:
    """ServiceSettings as `service` reads them from exactly `env` at start-up."""
    for field in ServiceSettings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServiceSettings(service_name=service)


def _refused_endpoints(settings: dict[str, ServiceSettings]) -> list[str]:
    """Each consumer's endpoint its publisher's endpoint policy would refuse, and why."""
    problems = []
    for consumer in SERVICES:
        for consumption in consumptions_of(consumer):
            endpoint = httpx.URL(endpoint_of(consumption, settings[consumer]))
            publisher = settings[consumption.publisher]
            where = f"{consumer}'s {consumption.name} at {consumption.publisher}"
            if endpoint.host not in publisher.subscription_allowed_hosts:
                problems.append(f"{where}: host {endpoint.host} not allowed")
            elif endpoint.scheme != "https" and publisher.subscription_allow_http:
                problems.append(f"{where}: http allowed for every host, not just these")
    return problems


# --------------------------------------------------------------------------- kubernetes


def test_each_service_names_its_own_service_as_internal_url(overlay: str) -> None:
    docs = _render(overlay)
    deployments = _deployments(docs)
    ports = _service_ports(docs)
    for svc in SERVICES:
        env = _plain_env(docs, _pod_spec(deployments[svc])["containers"][0])
        url = urlsplit(env["INTERNAL_URL"])
        assert (url.scheme, url.hostname, url.path) == ("http", svc, ""), env["INTERNAL_URL"]
        assert (url.port or 80) in ports[svc].values(), f"{svc}: {env['INTERNAL_URL']}"


def test_services_reach_each_other_where_the_gateway_does(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _render(overlay)
    deployments = _deployments(docs)
    gateway = _plain_env(docs, _pod_spec(deployments[GATEWAY])["containers"][0])
    for svc in SERVICES:
        settings = _settings(svc, _k8s_env(docs, deployments[svc]), monkeypatch)
        assert settings.service_urls == {
            name: gateway[f"{name.upper()}_URL"] for name in SERVICES
        }, svc


def test_every_publisher_accepts_every_consumers_endpoint(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _render(overlay)
    deployments = _deployments(docs)
    settings = {s: _settings(s, _k8s_env(docs, deployments[s]), monkeypatch) for s in SERVICES}
    assert any(consumptions_of(s) for s in SERVICES)
    problems = _refused_endpoints(settings)
    assert not problems, f"{overlay}:\n" + "\n".join(problems)


def test_services_start_with_the_overlays_settings_and_migrations_get_no_secrets(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _render(overlay)
    jobs = {j["metadata"]["name"]: j for j in _of_kind(docs, "Job")}
    for svc in SERVICES:
        settings = _settings(svc, _k8s_env(docs, _deployments(docs)[svc]), monkeypatch)
        assert settings.environment == ("development" if overlay == "dev" else "production")
        migration = _k8s_env(docs, jobs[f"{svc}-migrate"])
        assert "DATABASE_URL" in migration
        assert not {"SERVICE_TOKEN", "EVENTS_SIGNING_SECRET"} & set(migration), svc


def test_dev_services_present_the_token_they_accept(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _render("dev")
    for svc in SERVICES:
        settings = _settings(svc, _k8s_env(docs, _deployments(docs)[svc]), monkeypatch)
        assert settings.service_token == settings.dev_auth_token, svc


def _clients_file(docs: tuple[Doc, ...], directory: Path) -> Path:
    """The client registry the overlay mounts into intake, written to `directory`."""
    (config_map,) = [
        d
        for d in _of_kind(docs, "ConfigMap")
        if d["metadata"]["name"].startswith("teleradiology-auth-clients")
    ]
    path = directory / "clients.json"
    path.write_text(config_map["data"]["clients.json"], encoding="utf-8")
    return path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_intake_signs_with_the_overlays_key_for_its_clients(
    overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Dev: the development key pair and clients (`make token` works there); prod: the
    provided key pair, and a registry that the settings accept outside development."""
    docs = _render(overlay)
    env = _k8s_env(docs, _deployments(docs)["intake"])
    env["AUTH_CLIENTS_FILE"] = str(_clients_file(docs, tmp_path))
    settings = _settings("intake", env, monkeypatch)

    tokens = TokenService.from_settings(settings, owners={})

    development = tokens.signing_key.kid == DEV_PLATFORM_THUMBPRINT
    assert development == (overlay == "dev")
    assert bool(tokens.clients) == (overlay == "dev")  # prod: operators register clients
    for svc in SERVICES:
        verify = platform_verify_keys(
            _settings(svc, _k8s_env(docs, _deployments(docs)[svc]), monkeypatch)
        )
        assert verify is not None and tokens.signing_key.kid in verify.thumbprints(), svc


def _mounted_registry(deployment: Doc) -> tuple[str, str]:
    """Where a Deployment's AUTH_CLIENTS_FILE is, and the ConfigMap mounted there."""
    pod = _pod_spec(deployment)
    container = pod["containers"][0]
    path = {e["name"]: e.get("value") for e in container.get("env", [])}["AUTH_CLIENTS_FILE"]
    (mount,) = [
        m for m in container.get("volumeMounts", []) if path.startswith(m["mountPath"] + "/")
    ]
    volumes = {v["name"]: v for v in pod["volumes"]}
    return path, volumes[mount["name"]]["configMap"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_reads_the_registry_intake_issues_tokens_from(
    overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every service turns off the subscriptions of a withdrawn client: each mounts the
    registry intake has, and can load it."""
    docs = _render(overlay)
    deployments = _deployments(docs)
    mounted = {svc: _mounted_registry(deployments[svc]) for svc in SERVICES}
    assert set(mounted.values()) == {mounted["intake"]}, mounted
    assert mounted["intake"][1].startswith("teleradiology-auth-clients")
    for svc in SERVICES:
        env = _k8s_env(docs, deployments[svc])
        env["AUTH_CLIENTS_FILE"] = str(_clients_file(docs, tmp_path))
        assert subscription_owners(_settings(svc, env, monkeypatch)) is not None, svc


# --------------------------------------------------------------------------- compose


def _compose_env(values: Mapping[str, object], shell: Mapping[str, str]) -> dict[str, str]:
    """`values` as compose would pass them with the variables `shell` sets: each
    ${VAR:-default} is the shell's VAR, else its default."""

    def substitute(match: re.Match[str]) -> str:
        return shell.get(match.group(1), match.group(2))

    return {k: re.sub(r"\$\{(\w+):-([^}]*)\}", substitute, str(v)) for k, v in values.items()}


def test_compose_wires_the_services_events(monkeypatch: pytest.MonkeyPatch) -> None:
    services: dict[str, Doc] = _load_compose()["services"]
    settings = {
        svc: _settings(svc, _compose_env(services[svc]["environment"], {}), monkeypatch)
        for svc in SERVICES
    }
    for svc in SERVICES:
        assert settings[svc].internal_url == f"http://{svc}:{_listen_port(services[svc])}"
        assert settings[svc].service_urls == {
            name: f"http://{name}:{_listen_port(services[name])}" for name in SERVICES
        }
    problems = _refused_endpoints(settings)
    assert not problems, "compose:\n" + "\n".join(problems)


def test_compose_gives_every_service_the_client_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    services: dict[str, Doc] = _load_compose()["services"]
    shell = {"AUTH_CLIENTS_FILE": "/app/deploy/dev/auth/clients.json"}
    for svc in SERVICES:
        settings = _settings(svc, _compose_env(services[svc]["environment"], shell), monkeypatch)
        assert settings.auth_clients_file == Path(shell["AUTH_CLIENTS_FILE"]), svc
        assert "./deploy/dev/auth:/app/deploy/dev/auth:ro" in services[svc]["volumes"], svc


def test_compose_outside_development_needs_the_services_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services: dict[str, Doc] = _load_compose()["services"]
    production = {"ENVIRONMENT": "production"}
    secrets = production | {
        "SERVICE_TOKEN": PROVIDED["SERVICE_TOKEN"],
        "EVENTS_SIGNING_SECRET": PROVIDED["EVENTS_SIGNING_SECRET"],
        "AUTH_VERIFY_JWKS": PROVIDED["AUTH_VERIFY_JWKS"],
    }
    provided = secrets | {"POSTGRES_PASSWORD": "a-database-password-from-the-secret-manager"}
    for svc in SERVICES:
        env = services[svc]["environment"]
        with pytest.raises(ValueError, match="must be set outside development"):
            _settings(svc, _compose_env(env, production), monkeypatch)
        with pytest.raises(ValueError, match="DATABASE_URL has a development password"):
            _settings(svc, _compose_env(env, secrets), monkeypatch)
        accepted = _settings(svc, _compose_env(env, provided), monkeypatch)
        assert accepted.environment == "production", svc
        migration = services[f"migrate-{svc}"]["environment"]
        assert not {"SERVICE_TOKEN", "EVENTS_SIGNING_SECRET"} & set(migration), svc
