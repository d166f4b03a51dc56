"""Offline checks of docker-compose.yml: it parses (``docker compose config -q`` when the
compose plugin is available, otherwise YAML plus structural checks), defines every service,
creates one database per service, and fronts them with the gateway."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

import pytest

from tests.support.manifests import (
    APP_PORT,
    COMPOSE_FILE,
    COMPOSE_PUBLIC_ORIGIN,
    GATEWAY,
    GATEWAY_ENV,
    K8S_DIR,
    ROOT,
    SERVICE_ENV,
    SERVICES,
    Doc,
    _compose_defaults,
    _compose_plugin,
    _created_databases,
    _gateway_settings,
    _gateway_url_env,
    _listen_port,
    _load_compose,
)


def test_compose_file_is_valid() -> None:
    if _compose_plugin():
        proc = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr
    compose = _load_compose()
    services: dict[str, Doc] = compose["services"]
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, f"{name}: no image"
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: missing {source}"


def test_compose_defines_every_service() -> None:
    services: dict[str, Doc] = _load_compose()["services"]
    assert {"postgres", "otel-collector"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    for svc in SERVICES:
        app = services.get(svc)
        assert app is not None, f"compose has no service {svc}"
        command = " ".join(app["command"])
        assert f"--factory services.{svc}.app:create_app" in command
        assert "/healthz" in " ".join(app["healthcheck"]["test"])
        env = app["environment"]
        missing = set(SERVICE_ENV) - set(env)
        assert not missing, f"compose {svc}: missing env {sorted(missing)}"
        assert env["DATABASE_URL"].endswith(f"/{svc}"), env["DATABASE_URL"]
        assert env["OTEL_SERVICE_NAME"] == svc

        migrate = services.get(f"migrate-{svc}")
        assert migrate is not None, f"compose has no migrate-{svc}"
        assert migrate["command"] == [
            "alembic",
            "-c",
            f"services/{svc}/alembic.ini",
            "upgrade",
            "head",
        ]
        assert migrate["environment"]["DATABASE_URL"] == env["DATABASE_URL"]
        assert app["depends_on"][f"migrate-{svc}"]["condition"] == "service_completed_successfully"
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_database_init_scripts_create_one_database_per_service() -> None:
    compose_dbs = _created_databases(ROOT / "deploy" / "compose" / "initdb.sql")
    dev_dbs = _created_databases(K8S_DIR / "overlays" / "dev" / "initdb.sql")
    assert sorted(compose_dbs) == sorted([*SERVICES, "audit"])  # and the shared audit log
    assert dev_dbs == compose_dbs


def test_compose_migrates_the_audit_log_before_any_service_starts() -> None:
    services: dict[str, Doc] = _load_compose()["services"]
    migrate = services["migrate-audit"]
    assert migrate["command"] == ["alembic", "-c", "shared/audit/alembic.ini", "upgrade", "head"]
    url = migrate["environment"]["AUDIT_DATABASE_URL"]
    assert url.endswith("/audit")
    for svc in SERVICES:
        assert services[svc]["environment"]["AUDIT_DATABASE_URL"] == url
        assert services[svc]["depends_on"]["migrate-audit"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_gateway_is_the_front_door(monkeypatch: pytest.MonkeyPatch) -> None:
    services: dict[str, Doc] = _load_compose()["services"]
    assert not any(str(s.get("image", "")).startswith("nginx") for s in services.values())
    gateway = services.get(GATEWAY)
    assert gateway is not None, "compose has no gateway"
    # The same image as the services, hardened the same way.
    for key in ("image", "build", "user", "read_only", "cap_drop", "security_opt", "tmpfs"):
        assert gateway.get(key) == services["intake"].get(key), f"gateway {key}"
    assert gateway["command"] == [
        "uvicorn",
        "--factory",
        "services.gateway.app:create_app",
        "--host",
        "0.0.0.0",
        "--port",
        str(APP_PORT),
    ]
    assert "/healthz" in " ".join(gateway["healthcheck"]["test"])
    for svc in SERVICES:
        assert gateway["depends_on"][svc]["condition"] == "service_healthy"

    published = [p.rsplit(":", 2) for p in gateway["ports"]]
    assert [(host, int(inside)) for _, host, inside in published] == [("8080", APP_PORT)]
    env = {k: _compose_defaults(str(v)) for k, v in gateway["environment"].items()}
    missing = (set(GATEWAY_ENV) | set(_gateway_url_env())) - set(env)
    assert not missing, f"compose gateway: missing env {sorted(missing)}"
    assert env["OTEL_SERVICE_NAME"] == GATEWAY
    for variable, svc in _gateway_url_env().items():
        url = urlsplit(env[variable])
        assert url.scheme == "http" and url.path in ("", "/"), f"{variable}={env[variable]}"
        assert url.hostname == svc, f"{variable}={env[variable]} is not the {svc} service"
        assert url.port == _listen_port(services[svc]), f"{variable}={env[variable]}"

    # Links point at the front door: every service's PUBLIC_BASE_URL is the gateway's
    # origin, http://localhost:<published port>.
    assert env["PUBLIC_BASE_URL"] == COMPOSE_PUBLIC_ORIGIN
    assert urlsplit(COMPOSE_PUBLIC_ORIGIN).port == int(published[0][1])
    for svc in SERVICES:
        public = services[svc]["environment"]["PUBLIC_BASE_URL"]
        assert public == gateway["environment"]["PUBLIC_BASE_URL"], f"{svc}: {public}"
    settings = _gateway_settings(env, monkeypatch)
    assert settings.service_urls == {svc: f"http://{svc}:{APP_PORT}" for svc in SERVICES}
