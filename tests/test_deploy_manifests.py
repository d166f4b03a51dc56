"""Offline checks of the Kubernetes manifests (docker-compose.yml: test_deploy_compose.py;
the events wiring of both: test_deploy_events.py).

* Both kustomize overlays render (``kubectl kustomize``) and every rendered document
  validates, strictly, against the Kubernetes JSON schemas bundled with
  ``kubernetes-validate`` (no cluster, no network).
* Every Deployment, the gateway's included, has liveness/readiness probes, resource
  requests and limits, and the hardened securityContext; each service has a migration Job.
* The gateway (``services/gateway``) is the one front door: the Ingress sends all of
  ``/fhir`` to it, its ``<SERVICE>_URL`` settings (k8s and compose) name the Services and
  ports the services answer on, and PUBLIC_BASE_URL is the front door's origin. Which
  service owns which resource type is not written down here: the gateway reads it from
  the services' registries, and it is checked that it covers every type they declare.

``kubectl`` missing: the kustomize tests fail under CI=true and are skipped otherwise.
"""

from __future__ import annotations

import importlib
import re
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from services.gateway.app import REGISTRIES as GATEWAY_REGISTRIES
from services.gateway.routing import SUBSCRIPTION, RouteKind, RouteTable, route, subscription_owner
from shared.fhir.registry import Registry
from tests.support.manifests import (
    APP_PORT,
    DEPLOYMENTS,
    GATEWAY,
    GATEWAY_ENV,
    K8S_VERSION,
    OVERLAYS,
    PROD_EXTERNAL_SECRETS,
    PUBLIC_ORIGINS,
    ROOT,
    SERVICE_ENV,
    SERVICES,
    Doc,
    _config_data,
    _deployments,
    _env_names,
    _gateway_settings,
    _gateway_url_env,
    _name,
    _of_kind,
    _plain_env,
    _pod_spec,
    _render,
    _selects,
    _service_ports,
)


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
    assert set(DEPLOYMENTS) <= set(app_deployments), f"{overlay}: missing Deployments"
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
                if port != APP_PORT:
                    problems.append(f"{where}: {probe} port resolves to {port!r}, not {APP_PORT}")
    assert not problems, f"{overlay}:\n" + "\n".join(problems)


def test_service_deployments_run_the_service(overlay: str) -> None:
    docs = _render(overlay)
    deployments = _deployments(docs)
    for svc in SERVICES:
        container = _pod_spec(deployments[svc])["containers"][0]
        command = " ".join(container["command"])
        assert f"--factory services.{svc}.app:create_app" in command
        assert f"--port {APP_PORT}" in command
        env = _env_names(container)
        assert {"DATABASE_URL", "OTEL_SERVICE_NAME"} <= env, f"{svc}: env {env}"
        missing = set(SERVICE_ENV) - env - set(_config_data(docs, container))
        assert not missing, f"{overlay}/{svc}: settings not provided: {sorted(missing)}"


def test_services_select_their_deployment(overlay: str) -> None:
    """Each Service (the gateway's included) selects exactly one Deployment, and its
    ports' targetPorts are ports of that Deployment's container."""
    docs = _render(overlay)
    deployments = _deployments(docs)
    problems = []
    for service in _of_kind(docs, "Service"):
        if service["metadata"]["name"] not in deployments:
            continue  # e.g. the dev overlay's PostgreSQL (a StatefulSet)
        selector = service["spec"].get("selector", {})
        selected = [d for d in deployments.values() if _selects(selector, d)]
        if len(selected) != 1:
            problems.append(f"{_name(service)} selects {[_name(d) for d in selected]}")
            continue
        container_ports = {
            key
            for c in _pod_spec(selected[0])["containers"]
            for p in c.get("ports", [])
            for key in (p.get("name"), p["containerPort"])
        }
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in container_ports:
                problems.append(f"{_name(service)}: targetPort {port['targetPort']!r} unknown")
    assert not problems, f"{overlay}:\n" + "\n".join(problems)


def test_gateway_deployment_reaches_every_service(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _render(overlay)
    deployments = _deployments(docs)
    namespace = deployments[GATEWAY]["metadata"].get("namespace", "")
    container = _pod_spec(deployments[GATEWAY])["containers"][0]
    command = " ".join(container["command"])
    assert "--factory services.gateway.app:create_app" in command
    assert f"--port {APP_PORT}" in command
    env = _plain_env(docs, container)
    missing = (set(GATEWAY_ENV) | set(_gateway_url_env())) - set(env)
    assert not missing, f"{overlay}/gateway: settings not provided: {sorted(missing)}"
    assert env["OTEL_SERVICE_NAME"] == GATEWAY

    services = {s["metadata"]["name"]: s for s in _of_kind(docs, "Service")}
    ports = _service_ports(docs)
    problems = []
    for variable, svc in _gateway_url_env().items():
        url = urlsplit(env[variable])
        host = url.hostname or ""
        name, _, domain = host.partition(".")
        if url.scheme != "http" or url.path not in ("", "/"):
            problems.append(f"{variable}={env[variable]}: not an http origin")
        if domain and domain not in (
            namespace,
            f"{namespace}.svc",
            f"{namespace}.svc.cluster.local",
        ):
            problems.append(f"{variable}={env[variable]}: not a Service of {namespace}")
        service = services.get(name)
        if service is None:
            problems.append(f"{variable}={env[variable]}: no Service {name}")
            continue
        if not _selects(service["spec"].get("selector", {}), deployments[svc]):
            problems.append(f"{variable}={env[variable]}: Service {name} is not {svc}'s")
        if (url.port or 80) not in ports[name].values():
            problems.append(f"{variable}={env[variable]}: Service {name} has no such port")
    assert not problems, f"{overlay}:\n" + "\n".join(problems)
    # What the gateway reads at start-up (production: every <SERVICE>_URL set) is accepted.
    settings = _gateway_settings(env, monkeypatch)
    assert settings.public_base_url == PUBLIC_ORIGINS[overlay]


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
    audit = jobs.get("audit-migrate")
    if audit is None:
        problems.append("no Job audit-migrate (the audit log the services share)")
    else:
        command = _pod_spec(audit)["containers"][0]["command"]
        if command != ["alembic", "-c", "shared/audit/alembic.ini", "upgrade", "head"]:
            problems.append(f"audit-migrate runs {command}")
        if "AUDIT_DATABASE_URL" not in _env_names(_pod_spec(audit)["containers"][0]):
            problems.append("audit-migrate has no AUDIT_DATABASE_URL")
        problems += _check_hardening(audit)
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


def test_ingress_sends_fhir_to_the_gateway(overlay: str) -> None:
    """One rule, two paths: all of /fhir (the base, metadata, every type) and the token
    endpoint /auth/token to the gateway, at the host PUBLIC_BASE_URL names."""
    docs = _render(overlay)
    ingresses = _of_kind(docs, "Ingress")
    assert len(ingresses) == 1
    spec = ingresses[0]["spec"]
    assert "defaultBackend" not in spec, f"{overlay}: the Ingress has a default backend"
    (rule,) = spec["rules"]
    assert rule.get("host"), f"{overlay}: ingress rule without host"
    path, token = rule["http"]["paths"]
    gateway = _pod_spec(_deployments(docs)[GATEWAY])["containers"][0]
    config = _plain_env(docs, gateway)
    assert (path["path"], path["pathType"]) == (config["FHIR_BASE_PATH"], "Prefix")
    assert path["path"] == "/fhir"
    assert (token["path"], token["pathType"]) == ("/auth/token", "Exact")
    for backend in (path["backend"]["service"], token["backend"]["service"]):
        assert backend["name"] == GATEWAY
        assert backend["port"]["name"] in _service_ports(docs)[GATEWAY], backend

    tls_hosts = {host for tls in spec.get("tls", []) for host in tls.get("hosts", [])}
    scheme = "https" if rule["host"] in tls_hosts else "http"
    assert config["PUBLIC_BASE_URL"] == f"{scheme}://{rule['host']}" == PUBLIC_ORIGINS[overlay]
    # The services write the same origin into their links as the gateway.
    for svc in SERVICES:
        container = _pod_spec(_deployments(docs)[svc])["containers"][0]
        assert _plain_env(docs, container)["PUBLIC_BASE_URL"] == config["PUBLIC_BASE_URL"]


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
            if deployment["metadata"]["name"] in DEPLOYMENTS:
                assert deployment["spec"]["replicas"] >= minimum, _name(deployment)
    # Prod: a PodDisruptionBudget keeps each Deployment, the gateway's too, up in drains.
    prod = _render("prod")
    budgets = [b["spec"]["selector"]["matchLabels"] for b in _of_kind(prod, "PodDisruptionBudget")]
    for deployment in _of_kind(prod, "Deployment"):
        assert any(_selects(b, deployment) for b in budgets), f"{_name(deployment)}: no PDB"
    for doc in _render("prod"):
        if doc["kind"] in {"Deployment", "Job"}:
            for container in _pod_spec(doc)["containers"]:
                image = container["image"]
                tag = image.rsplit("/", 1)[-1].partition(":")[2]
                assert tag and tag != "latest", f"{_name(doc)}: prod image not pinned: {image}"
    # Dev-only auth must never be configured in prod.
    prod_secrets = _of_kind(_render("prod"), "Secret")
    assert not any("DEV_AUTH_TOKEN" in s.get("data", {}) for s in prod_secrets)


# --------------------------------------------------------------------------- gateway routing


def _service_registries() -> dict[str, Registry]:
    """The Registry of every service that declares one (services/<name>/resources.py)."""
    registries: dict[str, Registry] = {}
    for module_file in sorted((ROOT / "services").glob("*/resources.py")):
        module = importlib.import_module(f"services.{module_file.parent.name}.resources")
        registry = getattr(module, "REGISTRY", None)
        if isinstance(registry, Registry):
            registries[registry.service] = registry
    return registries


def test_gateway_routes_every_type_of_every_registry() -> None:
    """The deployed services are the registries' services, the gateway reads all of them
    (and has a <SERVICE>_URL for each), and it routes each declared type -- and each
    topic's Subscriptions -- to the service declaring it, so the one /fhir rule of the
    Ingress reaches every resource type."""
    registries = _service_registries()
    assert sorted(registries) == sorted(SERVICES), "a service with a registry is not deployed"
    assert sorted(r.service for r in GATEWAY_REGISTRIES) == sorted(registries)
    table = RouteTable.from_registries(GATEWAY_REGISTRIES)
    assert sorted(_gateway_url_env().values()) == sorted(table.services)

    declared = {t: r.service for r in registries.values() for t in r.types}
    assert dict(table.type_owners) == declared
    wrong = []
    for resource_type, owner in declared.items():
        for method, path in (("GET", resource_type), ("PUT", f"{resource_type}/1")):
            decision = route(table, method, path)
            if (decision.kind, decision.service) != (RouteKind.SERVICE, owner):
                wrong.append(f"{method} {path} -> {decision}")
    for registry in registries.values():
        for topic in registry.topics:
            resource = {"resourceType": SUBSCRIPTION, "criteria": topic.url}
            if subscription_owner(table, resource) != registry.service:
                wrong.append(f"Subscription to {topic.url} not to {registry.service}")
    if any(r.topics for r in registries.values()):
        assert route(table, "POST", SUBSCRIPTION).kind is RouteKind.NEW_SUBSCRIPTION
    assert route(table, "GET", "metadata").kind is RouteKind.METADATA
    assert route(table, "POST", "").kind is RouteKind.BUNDLE
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------- tooling


def test_uv_version_is_pinned_consistently() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    make_pin = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    docker_pin = re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    assert make_pin and docker_pin
    assert make_pin.group(1) == docker_pin.group(1)
