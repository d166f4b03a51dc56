"""Audit at the request edge: every request under the FHIR base leaves its AuditEvents
before its answer starts, and is not answered (503) when they cannot be written.

Not audited: /healthz, /readyz, the CapabilityStatement, the OpenAPI pages, and the signed
/events/* deliveries between the services (system traffic, outside the FHIR base: the
change each one carries was audited where it was made).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.audit.interactions import UNAUDITED
from shared.audit.log import write_at_response
from shared.fhir.http import FHIR_JSON, dumps
from shared.fhir.outcomes import unavailable

log = logging.getLogger("teleradiology.audit")

_REFUSAL = unavailable("The audit log is not available: the request was not answered; retry")


class AuditMiddleware:
    """Writes each FHIR request's remaining AuditEvents as its answer starts; fails closed."""

    def __init__(self, app: ASGIApp, *, fhir_base_path: str) -> None:
        self.app = app
        self.base = fhir_base_path

    def _audited_path(self, scope: Scope) -> str | None:
        """The path relative to the FHIR base, when the request is audited."""
        path: str = scope["path"]
        if path != self.base and not path.startswith(self.base + "/"):
            return None
        relative = path[len(self.base) :].strip("/")
        return None if relative in UNAUDITED else relative

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self._audited_path(scope) if scope["type"] == "http" else None
        if path is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = False
        started = False

        async def send_audited(message: Message) -> None:
            nonlocal refused, started
            if message["type"] == "http.response.start":
                started = True
                try:
                    await write_at_response(request, path, message["status"])
                except Exception as exc:  # fail closed, whatever the audit database says
                    log.error("audit write failed", extra={"error_type": type(exc).__name__})
                    refused = True
                    await _send_refusal(send)
                    return
            if not refused:
                await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except Exception:
            if not started:  # answered 500 further out: record the failure if we can
                try:
                    await write_at_response(request, path, 500)
                except Exception as exc:
                    log.error("audit write failed", extra={"error_type": type(exc).__name__})
            raise


async def _send_refusal(send: Send) -> None:
    body = dumps(_REFUSAL.outcome())
    headers = [
        (b"content-type", f"{FHIR_JSON}; charset=utf-8".encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"5"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
