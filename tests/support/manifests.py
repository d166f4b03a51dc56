"""What the deployment tests share: rendering the kustomize overlays, reading
docker-compose.yml, and the facts the files must agree on (services, ports, settings)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Kubernetes version the manifests must be valid for (keep in sync with K8S_VERSION in Makefile).
K8S_VERSION = "1.32.0"

SERVICES = ("intake", "assignment", "reporting", "sla")
GATEWAY = "gateway"
DEPLOYMENTS = (*SERVICES, GATEWAY)
# The port every app's uvicorn listens on inside its container.
APP_PORT = 8000
# Settings every service reads from its environment (12-factor).
SERVICE_ENV = (
    "DATABASE_URL",
    "AUDIT_DATABASE_URL",
    "ENVIRONMENT",
    "LOG_LEVEL",
    "PUBLIC_BASE_URL",
    "FHIR_BASE_PATH",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    # Events between services (tests/test_deploy_events.py checks their values).
    "INTERNAL_URL",
    "INTAKE_URL",
    "ASSIGNMENT_URL",
    "REPORTING_URL",
    "SLA_URL",
    "SERVICE_TOKEN",
    "EVENTS_SIGNING_SECRET",
    "SUBSCRIPTION_ALLOWED_HOSTS",
    # Access tokens: every service verifies them with the platform's public keys.
    "AUTH_VERIFY_JWKS",
)
# Settings the gateway reads besides its <SERVICE>_URLs (see services/gateway/settings.py).
GATEWAY_ENV = (
    "ENVIRONMENT",
    "LOG_LEVEL",
    "PUBLIC_BASE_URL",
    "FHIR_BASE_PATH",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
)
# External origin (PUBLIC_BASE_URL) of each overlay's Ingress, and of the compose gateway.
PUBLIC_ORIGINS = {
    "dev": "http://teleradiology.localhost",
    "prod": "https://teleradiology.example.com",
}
COMPOSE_PUBLIC_ORIGIN = "http://localhost:8080"
# Secrets the prod overlay expects to exist in the cluster (managed outside git).
PROD_EXTERNAL_SECRETS = {f"{s}-db" for s in SERVICES} | {
    "audit-db",
    "fhir-tls",
    "teleradiology-internal",
    "teleradiology-auth",
}

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

Doc = dict[str, Any]


def _kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        message = "kubectl is not on PATH: cannot render the kustomize overlays"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@functools.cache
def _render(overlay: str) -> tuple[Doc, ...]:
    proc = subprocess.run(
        [_kubectl(), "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"kubectl kustomize {overlay} failed:\n{proc.stderr}"
    docs = tuple(d for d in yaml.safe_load_all(proc.stdout) if d)
    assert docs, f"overlay {overlay} rendered nothing"
    return docs


def _of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def _name(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def _env_names(container: Doc) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def _deployments(docs: tuple[Doc, ...]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in _of_kind(docs, "Deployment")}


def _config_data(docs: tuple[Doc, ...], container: Doc) -> dict[str, str]:
    """What the container's envFrom ConfigMaps provide."""
    names = [s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s]
    data: dict[str, str] = {}
    for cm in _of_kind(docs, "ConfigMap"):
        if cm["metadata"]["name"] in names:
            data.update(cm.get("data", {}))
    return data


def _plain_env(docs: tuple[Doc, ...], container: Doc) -> dict[str, str]:
    """The container's environment from its ConfigMaps and literal `env` values."""
    env = _config_data(docs, container)
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def _service_ports(docs: tuple[Doc, ...]) -> dict[str, dict[str, int]]:
    """Service name -> {port name: port}."""
    return {
        s["metadata"]["name"]: {p.get("name", ""): p["port"] for p in s["spec"]["ports"]}
        for s in _of_kind(docs, "Service")
    }


def _selects(selector: dict[str, str], deployment: Doc) -> bool:
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    return bool(selector) and selector.items() <= labels.items()


def _gateway_url_env() -> dict[str, str]:
    """The gateway's <SERVICE>_URL settings, by variable: {"INTAKE_URL": "intake", ...}."""
    return {f"{name.upper()}_URL": name for name in GatewaySettings.model_construct().service_urls}


def _gateway_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> GatewaySettings:
    """GatewaySettings as the gateway would read them from exactly `env` at start-up."""
    for field in GatewaySettings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return GatewaySettings()


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    proc = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    return proc.returncode == 0


def _load_compose() -> Doc:
    doc: Doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return doc


def _created_databases(sql: Path) -> list[str]:
    return re.findall(r"CREATE DATABASE (\w+)", sql.read_text(encoding="utf-8"))


def _compose_defaults(value: str) -> str:
    """`value` with each ${VAR:-default} as its default (what an empty shell gives)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def _listen_port(app: Doc) -> int:
    command: list[str] = app["command"]
    return int(command[command.index("--port") + 1])
