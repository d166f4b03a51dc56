# Teleradiology platform: developer and CI entry points.
# `make help` lists every target (taken from the `## ` comments below).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

# uv is used as the installer/locker; keep in sync with ARG UV_VERSION in the Dockerfile.
UV_VERSION := 0.13.9

VENV      := .venv
BIN       := $(VENV)/bin
PY        := $(BIN)/python
UV        := $(BIN)/uv
STAMP     := $(VENV)/.installed
SERVICES  := intake assignment reporting sla
OVERLAYS  := dev prod
K8S_OUT   := build/k8s
# Kubernetes version the rendered manifests are validated against (kubernetes-validate schemas).
K8S_VERSION ?= 1.32.0
PYTEST_ARGS ?=
BENCH_ARGS ?=

# First python3.11 on PATH, else python3; `install` refuses anything but 3.11.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)

LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet \
              --custom-compile-command "make lock"

.PHONY: help install browser run token test lint fmt migrate bench bench-events bench-tenancy bench-assign bench-assign-service bench-reports bench-sla k8s lock check-lock clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "; printf "Usage: make <target> [VAR=value]\n\nTargets:\n"} \
	     /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-21s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nVariables: PYTEST_ARGS (extra pytest args), DATABASE_URL, AUDIT_DATABASE_URL (migrate), K8S_VERSION (k8s),\n           CLIENT (token), BENCH_ARGS (e.g. BENCH_ARGS="--duration 20 --concurrency 64"; see docs/benchmarks.md)\n'

install: $(STAMP) ## Create .venv (Python 3.11) and install the locked runtime+dev dependencies

$(STAMP): requirements-dev.lock requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: python3.11 (or python3) not found on PATH" >&2; exit 1; }
	@"$(PYTHON)" -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "error: Python 3.11 is required, $(PYTHON) is %d.%d" % v)'
	@if [ -x "$(PY)" ] && ! "$(PY)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
	    echo "existing $(VENV) is not Python 3.11: recreating"; rm -rf "$(VENV)"; fi
	@[ -x "$(PY)" ] || "$(PYTHON)" -m venv "$(VENV)"
	@"$(UV)" --version 2>/dev/null | grep -qx "uv $(UV_VERSION)" || \
	    "$(BIN)/pip" install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	"$(UV)" pip sync --python "$(PY)" --require-hashes requirements-dev.lock
	"$(PY)" tools/check_lock.py
	@touch "$@"

lock: ## Re-resolve requirements*.lock from pyproject.toml (keeps existing pins; UPGRADE=1 to bump)
	@"$(UV)" --version >/dev/null 2>&1 || { echo "run 'make install' first" >&2; exit 1; }
	"$(UV)" pip compile pyproject.toml $(LOCK_FLAGS) $(if $(UPGRADE),--upgrade) -o requirements.lock
	"$(UV)" pip compile pyproject.toml --group dev $(LOCK_FLAGS) $(if $(UPGRADE),--upgrade) -o requirements-dev.lock

check-lock: $(STAMP) ## Verify the lock files still satisfy pyproject.toml
	"$(PY)" tools/check_lock.py

run: $(STAMP) ## Migrate the local SQLite DBs, seed the demo and start all services (FHIR base http://127.0.0.1:8080/fhir)
	"$(PY)" scripts/run_local.py

token: $(STAMP) ## Print a bearer token for a development client of `make run` (CLIENT=<name>; without it, list them)
	@"$(PY)" scripts/dev_token.py $(CLIENT)

# The dashboard's browser test drives Debian's chromium (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium

browser: ## Install Debian's chromium for the browser tests when missing (apt-get, as root)
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	    echo "+ apt-get install chromium (the dashboard's browser test)"; \
	    apt-get update && apt-get install -y --no-install-recommends chromium; \
	else \
	    echo "warning: $(CHROMIUM) is missing and this is not root: install Debian's chromium" \
	         "(sudo apt-get install chromium); the browser test is skipped (a failure under CI=true)" >&2; \
	fi

# Both cores: each test file runs whole on one worker (an end-to-end module starts its platform once).
TEST_WORKERS ?= 2

test: $(STAMP) browser ## Run the test suite on TEST_WORKERS processes (extra args: make test PYTEST_ARGS='-k intake -x')
	"$(BIN)/pytest" -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check and mypy (runs all three, fails if any fails)
	@status=0; \
	echo "+ ruff check ."; "$(BIN)/ruff" check . || status=1; \
	echo "+ ruff format --check ."; "$(BIN)/ruff" format --check . || status=1; \
	echo "+ mypy shared services"; "$(BIN)/mypy" shared services || status=1; \
	exit $$status

fmt: $(STAMP) ## Format the code and apply safe ruff fixes
	"$(BIN)/ruff" format .
	"$(BIN)/ruff" check --fix .

migrate: $(STAMP) ## alembic upgrade head for every service and the audit log (DATABASE_URL or <SERVICE>_DATABASE_URL; AUDIT_DATABASE_URL)
	@for s in $(SERVICES); do \
	    var="$${s^^}_DATABASE_URL"; url="$${!var:-$${DATABASE_URL:-}}"; \
	    echo "+ alembic -c services/$$s/alembic.ini upgrade head"; \
	    ( if [ -n "$$url" ]; then export DATABASE_URL="$$url"; fi; \
	      "$(BIN)/alembic" -c "services/$$s/alembic.ini" upgrade head ); \
	done
	@echo "+ alembic -c shared/audit/alembic.ini upgrade head"
	@"$(BIN)/alembic" -c shared/audit/alembic.ini upgrade head

bench: $(STAMP) ## Intake FHIR vs bare FastAPI+asyncpg on the local PostgreSQL (recreates bench_intake)
	"$(PY)" bench/intake_bench.py $(BENCH_ARGS)

bench-events: $(STAMP) ## Notifications to a subscriber under a steady order rate (whole platform, PostgreSQL)
	"$(PY)" bench/notifications_bench.py $(BENCH_ARGS)

bench-tenancy: $(STAMP) ## What tenant isolation costs: intake reads as system vs a facility vs a vendor (PostgreSQL)
	"$(PY)" bench/tenancy_bench.py $(BENCH_ARGS)

bench-assign: $(STAMP) ## Assignment engine: a simulated day vs baselines, an offline optimum, decision latency (no database)
	"$(PY)" -m bench.assign $(BENCH_ARGS)

bench-assign-service: $(STAMP) ## Assignment service: routing orders in one and three replicas vs plain Task writes (PostgreSQL)
	"$(PY)" bench/assign_service.py $(BENCH_ARGS)

bench-reports: $(STAMP) ## Reporting: a final report write (Task check, PDF, signature) vs the plain FHIR write; $verify (PostgreSQL)
	"$(PY)" bench/reports_bench.py $(BENCH_ARGS)

bench-sla: $(STAMP) ## sla: $compliance, $open-orders, /metrics and a predictor sweep over 10k-100k clocks (PostgreSQL)
	"$(PY)" bench/sla_bench.py $(BENCH_ARGS)

k8s: $(STAMP) ## Render the dev and prod overlays to build/k8s/ and validate them offline
	@command -v kubectl >/dev/null || { echo "error: kubectl is required" >&2; exit 1; }
	@mkdir -p "$(K8S_OUT)"
	@for o in $(OVERLAYS); do \
	    echo "+ kubectl kustomize deploy/k8s/overlays/$$o > $(K8S_OUT)/$$o.yaml"; \
	    kubectl kustomize "deploy/k8s/overlays/$$o" > "$(K8S_OUT)/$$o.yaml"; \
	    "$(BIN)/kubernetes-validate" --strict --quiet -k "$(K8S_VERSION)" "$(K8S_OUT)/$$o.yaml"; \
	done
	@echo "rendered and validated: $(addprefix $(K8S_OUT)/,$(addsuffix .yaml,$(OVERLAYS)))"

clean: ## Remove .venv, caches, build output and local data (var/)
	rm -rf "$(VENV)" var build .pytest_cache .mypy_cache .ruff_cache bench/out .coverage htmlcov
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
