"""Offline checks of the deployment files.

* Both kustomize overlays render (``kubectl kustomize``) and every rendered document
  validates, strictly, against the Kubernetes JSON schemas bundled with
  ``kubernetes-validate`` (no cluster, no network).
* Every Deployment has liveness/readiness probes, resource requests and limits, and the
  hardened securityContext; each service has a migration Job; the Ingress routes each
  FHIR resource type to the service that owns it.
* ``docker-compose.yml`` parses (``docker compose config -q`` when the compose plugin is
  available, otherwise YAML plus structural checks) and defines every service.

``kubectl`` missing: the kustomize tests fail under CI=true and are skipped otherwise.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Kubernetes version the manifests must be valid for (keep in sync with K8S_VERSION in Makefile).
K8S_VERSION = "1.32.0"

SERVICES = ("intake", "assignment", "reporting", "sla")
# FHIR resource type -> owning service. Mirrors base/ingress.yaml and the compose gateway.
ROUTES: dict[str, str] = {
    "Patient": "intake",
    "Organization": "intake",
    "ServiceRequest": "intake",
    "ImagingStudy": "intake",
    "Endpoint": "intake",
    "metadata": "intake",
    "Practitioner": "assignment",
    "PractitionerRole": "assignment",
    "OrganizationAffiliation": "assignment",
    "Task": "assignment",
    "DiagnosticReport": "reporting",
    "Provenance": "reporting",
    "Communication": "reporting",
    "MeasureReport": "sla",
}
# Settings every service reads from its environment (12-factor).
SERVICE_ENV = (
    "DATABASE_URL",
    "ENVIRONMENT",
    "LOG_LEVEL",
    "PUBLIC_BASE_URL",
    "FHIR_BASE_PATH",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
)
# Secrets the prod overlay expects to exist in the cluster (managed outside git).
PROD_EXTERNAL_SECRETS = {f"{s}-db" for s in SERVICES} | {"fhir-tls"}

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


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --------------------------------------------------------------------------- kubernetes


def test_overlay_validates_against_kubernetes_schemas(overlay: str) -> None:
    errors = []
    for doc in _render(overlay):
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{_name(doc)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{_name(doc)}: no schema ({exc.message})")
    assert not errors, f"{overlay}: invalid manifests:\n" + "\n".join(errors)


def _check_hardening(doc: Doc) -> list[str]:
    problems = []
    pod = _pod_spec(doc)
    pod_sc = pod.get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True:
        problems.append("pod securityContext.runAsNonRoot is not true")
    for container in pod["containers"]:
        where = f"{_name(doc)} container {container['name']}"
        sc = container.get("securityContext", {})
        seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        expected = {
            "allowPrivilegeEscalation": (sc.get("allowPrivilegeEscalation"), False),
            "readOnlyRootFilesystem": (sc.get("readOnlyRootFilesystem"), True),
            "capabilities.drop": (sc.get("capabilities", {}).get("drop"), ["ALL"]),
            "seccompProfile.type": (seccomp.get("type"), "RuntimeDefault"),
            "runAsNonRoot": (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")), True),
        }
        problems += [
            f"{where}: securityContext.{k} is {got!r}, expected {want!r}"
            for k, (got, want) in expected.items()
            if got != want
        ]
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in resources.get(section, {}):
                    problems.append(f"{where}: resources.{section}.{res} missing")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
            problems.append(f"{where}: /tmp is not an emptyDir mount")
    return problems


def test_deployments_have_probes_resources_and_security(overlay: str) -> None:
    deployments = _of_kind(_render(overlay), "Deployment")
    app_deployments = {d["metadata"]["name"]: d for d in deployments}
    assert set(SERVICES) <= set(app_deployments), f"{overlay}: missing Deployments"
    problems = []
    for doc in deployments:
        problems += _check_hardening(doc)
        for container in _pod_spec(doc)["containers"]:
            where = f"{_name(doc)} container {container['name']}"
            port_names = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = container.get(probe, {}).get("httpGet")
                if not get:
                    problems.append(f"{where}: no {probe} httpGet")
                    continue
                if get.get("path") != path:
                    problems.append(f"{where}: {probe} path {get.get('path')!r} != {path!r}")
                port = port_names.get(get["port"], get["port"])
                if port != 8000:
                    problems.append(f"{where}: {probe} port resolves to {port!r}, not 8000")
    assert not problems, f"{overlay}:\n" + "\n".join(problems)


def test_service_deployments_run_the_service(overlay: str) -> None:
    docs = _render(overlay)
    deployments = {d["metadata"]["name"]: d for d in _of_kind(docs, "Deployment")}
    for svc in SERVICES:
        container = _pod_spec(deployments[svc])["containers"][0]
        command = " ".join(container["command"])
        assert f"--factory services.{svc}.app:create_app" in command
        assert "--port 8000" in command
        env = _env_names(container)
        assert {"DATABASE_URL", "OTEL_SERVICE_NAME"} <= env, f"{svc}: env {env}"
        config_maps = [
            src["configMapRef"]["name"]
            for src in container.get("envFrom", [])
            if "configMapRef" in src
        ]
        data: dict[str, str] = {}
        for cm in _of_kind(docs, "ConfigMap"):
            if cm["metadata"]["name"] in config_maps:
                data.update(cm.get("data", {}))
        missing = set(SERVICE_ENV) - env - set(data)
        assert not missing, f"{overlay}/{svc}: settings not provided: {sorted(missing)}"


def test_every_service_has_a_migration_job(overlay: str) -> None:
    jobs = {j["metadata"]["name"]: j for j in _of_kind(_render(overlay), "Job")}
    problems = []
    for svc in SERVICES:
        job = jobs.get(f"{svc}-migrate")
        if job is None:
            problems.append(f"no Job {svc}-migrate")
            continue
        command = _pod_spec(job)["containers"][0]["command"]
        if command != ["alembic", "-c", f"services/{svc}/alembic.ini", "upgrade", "head"]:
            problems.append(f"{svc}-migrate runs {command}")
        problems += _check_hardening(job)
    assert not problems, f"{overlay}:\n" + "\n".join(problems)


def test_secret_and_configmap_references_resolve(overlay: str) -> None:
    docs = _render(overlay)
    secrets = {d["metadata"]["name"] for d in _of_kind(docs, "Secret")}
    config_maps = {d["metadata"]["name"] for d in _of_kind(docs, "ConfigMap")}
    if overlay == "prod":
        assert not secrets, "prod must not ship Secrets (they are managed outside git)"
        secrets |= PROD_EXTERNAL_SECRETS
    problems = []
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job", "StatefulSet"}:
            continue
        pod = _pod_spec(doc)
        for container in pod["containers"]:
            for src in container.get("envFrom", []):
                if "configMapRef" in src and src["configMapRef"]["name"] not in config_maps:
                    problems.append(f"{_name(doc)}: ConfigMap {src['configMapRef']['name']}")
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional") and ref["name"] not in secrets:
                    problems.append(f"{_name(doc)}: Secret {ref['name']} ({env['name']})")
        for volume in pod.get("volumes", []):
            if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                problems.append(f"{_name(doc)}: ConfigMap volume {volume['configMap']['name']}")
    assert not problems, f"{overlay}: unresolved references:\n" + "\n".join(problems)


def test_ingress_routes_resource_types_to_owning_service(overlay: str) -> None:
    docs = _render(overlay)
    services = {
        s["metadata"]["name"]: {p["name"] for p in s["spec"]["ports"]}
        for s in _of_kind(docs, "Service")
    }
    ingresses = _of_kind(docs, "Ingress")
    assert len(ingresses) == 1
    routed: dict[str, str] = {}
    for rule in ingresses[0]["spec"]["rules"]:
        assert rule.get("host"), f"{overlay}: ingress rule without host"
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["port"]["name"] in services.get(backend["name"], set()), backend
            match = re.fullmatch(r"/fhir/(\w+)", path["path"])
            assert match, f"unexpected ingress path {path['path']}"
            routed[match.group(1)] = backend["name"]
    assert routed == ROUTES


def test_overlay_specific_settings() -> None:
    def config(overlay: str) -> dict[str, str]:
        (cm,) = [
            d
            for d in _of_kind(_render(overlay), "ConfigMap")
            if d["metadata"]["name"].startswith("teleradiology-config")
        ]
        return dict(cm["data"])

    assert config("dev")["ENVIRONMENT"] == "development"
    assert config("prod")["ENVIRONMENT"] == "production"
    for overlay, minimum in (("dev", 1), ("prod", 2)):
        for deployment in _of_kind(_render(overlay), "Deployment"):
            if deployment["metadata"]["name"] in SERVICES:
                assert deployment["spec"]["replicas"] >= minimum, _name(deployment)
    for doc in _render("prod"):
        if doc["kind"] in {"Deployment", "Job"}:
            for container in _pod_spec(doc)["containers"]:
                image = container["image"]
                tag = image.rsplit("/", 1)[-1].partition(":")[2]
                assert tag and tag != "latest", f"{_name(doc)}: prod image not pinned: {image}"
    # Dev-only auth must never be configured in prod.
    prod_secrets = _of_kind(_render("prod"), "Secret")
    assert not any("DEV_AUTH_TOKEN" in s.get("data", {}) for s in prod_secrets)


# --------------------------------------------------------------------------- compose


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
                assert (ROOT / source).is_file(), f"{name}: missing {source}"


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


def _created_databases(sql: Path) -> list[str]:
    return re.findall(r"CREATE DATABASE (\w+)", sql.read_text(encoding="utf-8"))


def test_database_init_scripts_create_one_database_per_service() -> None:
    compose_dbs = _created_databases(ROOT / "deploy" / "compose" / "initdb.sql")
    dev_dbs = _created_databases(K8S_DIR / "overlays" / "dev" / "initdb.sql")
    assert sorted(compose_dbs) == sorted(SERVICES)
    assert dev_dbs == compose_dbs


def test_compose_gateway_matches_ingress_routes() -> None:
    conf = (ROOT / "deploy" / "compose" / "gateway.nginx.conf").read_text(encoding="utf-8")
    routed: dict[str, str] = {}
    pattern = r"location ~ \^/fhir/\(([\w|]+)\)\(/\|\$\) \{\s*proxy_pass http://(\w+);"
    for types, upstream in re.findall(pattern, conf):
        for resource_type in types.split("|"):
            routed[resource_type] = upstream
    assert routed == ROUTES


# --------------------------------------------------------------------------- tooling


def test_uv_version_is_pinned_consistently() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    make_pin = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    docker_pin = re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert make_pin and docker_pin
    assert make_pin.group(1) == docker_pin.group(1)
