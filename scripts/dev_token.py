"""`make token [CLIENT=<name>]`: a bearer token for a development client of the local run.

Without a client, lists the development clients (deploy/dev/auth/clients.json). With one,
signs a client assertion with that client's development key (deploy/dev/auth/keys/), asks
the running platform's token endpoint -- the gateway's `/auth/token`, as `make run` starts
it (GATEWAY_PORT, RUN_HOST, PUBLIC_BASE_URL apply) -- and prints only the access token:

    TOKEN=$(make -s token CLIENT=ehr-mercy-dallas)
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/fhir/ServiceRequest
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.smart.client_assertion import ASSERTION_TYPE, sign_client_assertion  # noqa: E402
from shared.smart.development import DEV_CLIENT_KEYS_DIR, DEV_CLIENTS_FILE  # noqa: E402
from shared.smart.keys import SigningKey  # noqa: E402


def gateway_origins() -> tuple[str, str]:
    """Where `make run` serves the token endpoint: the origin this machine reaches the
    gateway at, and its public origin (as scripts/run_local.py configures them; this
    script avoids importing the platform, so that it answers at once)."""
    host = os.environ.get("RUN_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    host = f"[{host}]" if ":" in host else host
    local = f"http://{host}:{os.environ.get('GATEWAY_PORT', '8080')}"
    return local, os.environ.get("PUBLIC_BASE_URL", local).rstrip("/")


def development_clients() -> list[dict[str, Any]]:
    """The development clients' registrations."""
    clients: list[dict[str, Any]] = json.loads(DEV_CLIENTS_FILE.read_text(encoding="utf-8"))
    return clients


def client_table(clients: list[dict[str, Any]]) -> str:
    """One line per client: its name, role and what it stands for."""
    lines = [f"{'CLIENT':<22} {'ROLE':<12} ORGANIZATION / USER"]
    for client in clients:
        lines.append(f"{client['client_id']:<22} {client['role']:<12} {client['description']}")
    lines.append("\nmake -s token CLIENT=<client>   prints a bearer token for it (make run first)")
    return "\n".join(lines)


def request_token(client_id: str, *, token_url: str, post_to: str) -> str:
    """An access token for the development client `client_id`: its assertion is addressed
    to `token_url` (the public one) and sent to `post_to` (where this machine reaches it)."""
    key = SigningKey.from_pem((DEV_CLIENT_KEYS_DIR / f"{client_id}.pem").read_bytes())
    assertion = sign_client_assertion(key, client_id, token_url, now=time.time())
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    response = httpx.post(post_to, data=form, timeout=10, trust_env=False)
    if response.status_code != 200:
        raise RuntimeError(f"the token endpoint answered {response.status_code}: {response.text}")
    return str(response.json()["access_token"])


def main(argv: list[str]) -> int:
    clients = development_clients()
    if not argv:
        print(client_table(clients))
        return 0
    client_id = argv[0]
    if client_id not in {c["client_id"] for c in clients}:
        print(f"unknown client {client_id!r}; `make token` lists them", file=sys.stderr)
        return 2
    local, public = gateway_origins()
    try:
        token = request_token(
            client_id, token_url=f"{public}/auth/token", post_to=f"{local}/auth/token"
        )
    except (httpx.HTTPError, RuntimeError) as error:
        print(f"no token: {error} (is `make run` running?)", file=sys.stderr)
        return 1
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
