"""Build a service: a FastAPI app on the shared FHIR core, with health, errors, telemetry."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.audit.log import AuditLog
from shared.audit.middleware import AuditMiddleware
from shared.db import Database
from shared.events.api import subscription_operations
from shared.events.consumer import Consumption, consumer_router
from shared.events.runtime import background_events, with_subscriptions
from shared.fhir.api import fhir_router
from shared.fhir.http import error_response
from shared.fhir.outcomes import (
    FhirError,
    bad_request,
    internal_error,
    method_not_allowed,
    not_found,
    unavailable,
)
from shared.fhir.registry import Registry
from shared.logs import AccessLogMiddleware, configure_logging, exception_origin
from shared.peers import Peers, PeerUnavailable
from shared.ratelimit import RateLimiter
from shared.request_limits import RequestLimitsMiddleware
from shared.settings import ServiceSettings
from shared.smart.authenticator import Authenticator
from shared.smart.endpoints import discovery_router
from shared.telemetry import instrument_app, start_tracing

VERSION = "0.1.0"
log = logging.getLogger("teleradiology.app")

StartupHook = Callable[[FastAPI], Awaitable[None]]
# A service's own background work, running while the app serves (e.g. assignment's sweeper).
Worker = Callable[[FastAPI], AbstractAsyncContextManager[None]]


async def _fhir_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return error_response(exc)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(not_found("No such endpoint"))
    if exc.status_code == 405:
        return error_response(method_not_allowed("This method is not allowed here"))
    error = bad_request("The request could not be processed")
    error.status = exc.status_code
    return error_response(error)


async def _validation_error(_: Request, exc: Exception) -> Response:
    return error_response(bad_request("The request's parameters are malformed"))


# PostgreSQL's "try again" states: deadlock detected, serialization failure.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


async def _database_error(request: Request, exc: Exception) -> Response:
    """A deadlock or serialization failure rolled the request back: the client may retry."""
    assert isinstance(exc, DBAPIError)
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in _RETRYABLE_SQLSTATES:
        log.warning("transaction conflict", extra={"sqlstate": code})
        error = unavailable("The request met a concurrent change and was not applied; retry")
        error.headers = {"Retry-After": "1"}
        return error_response(error)
    return await _unexpected(request, exc)


async def _peer_unavailable(_: Request, exc: Exception) -> Response:
    """Another service this request needs did not answer: the client may retry."""
    log.warning("peer unavailable", extra={"reason": str(exc)})
    error = unavailable("A service this request depends on is not available; retry later")
    error.headers = {"Retry-After": "5"}
    return error_response(error)


async def _unexpected(_: Request, exc: Exception) -> Response:
    # Log the type and where, never the message: it may quote request data (PHI).
    log.error(
        "unhandled error",
        extra={"error_type": type(exc).__name__, "where": exception_origin(exc)},
    )
    return error_response(internal_error())


class UnexpectedErrorMiddleware:
    """Answer an unexpected exception here, with a 500 OperationOutcome, and stop it.

    Left to Starlette, it would be answered and then raised on to the tracing middleware
    (which records its message on the span) and to the HTTP server (which logs its
    traceback): the message may quote request data (PHI).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:  # anything the handlers did not answer
            response = await _unexpected(Request(scope), exc)
            trace.get_current_span().set_status(Status(StatusCode.ERROR, type(exc).__name__))
            if not started:
                await response(scope, receive, send)


def add_platform_layers(app: FastAPI) -> None:
    """What every process of the platform wraps its app in: OperationOutcome error handling,
    request limits (app.state.settings), the access log and request tracing."""
    add_error_handlers(app)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(RequestLimitsMiddleware)
    app.add_middleware(AccessLogMiddleware)
    instrument_app(app)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, with an OperationOutcome (never a stack trace)."""
    app.add_exception_handler(FhirError, _fhir_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PeerUnavailable, _peer_unavailable)
    app.add_exception_handler(Exception, _unexpected)


def create_service_app(
    *,
    registry: Registry,
    settings: ServiceSettings,
    description: str,
    on_startup: StartupHook | None = None,
    consumptions: tuple[Consumption, ...] = (),
    operations: tuple[APIRouter, ...] = (),
    routers: tuple[APIRouter, ...] = (),
    workers: tuple[Worker, ...] = (),
) -> FastAPI:
    """A FastAPI app serving `registry` at `settings.fhir_base_path`, plus /healthz, /readyz,
    the SMART discovery documents, the event endpoints of the service's `consumptions`,
    and `routers` outside the FHIR base (e.g. the token endpoint)."""

    registry = with_subscriptions(registry, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        database = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
        start_tracing(settings, database.engine)
        app.state.database = database
        app.state.audit = AuditLog(
            settings.resolved_audit_database_url, pool_size=settings.db_pool_size
        )
        app.state.peers = Peers(settings)
        app.state.authenticator = Authenticator.from_settings(settings)
        try:
            if on_startup is not None:
                await on_startup(app)
            async with (
                background_events(app, database, registry, settings, consumptions),
                AsyncExitStack() as running,
            ):
                for worker in workers:
                    await running.enter_async_context(worker(app))
                log.info("started", extra={"fhir_base_path": settings.fhir_base_path})
                yield
        finally:
            await app.state.authenticator.aclose()
            await app.state.peers.aclose()
            await app.state.audit.dispose()
            await database.dispose()

    app = FastAPI(
        title=f"Teleradiology {registry.service} service",
        description=description,
        version=VERSION,
        lifespan=lifespan,
        openapi_url=f"{settings.fhir_base_path}/openapi.json",
        docs_url=f"{settings.fhir_base_path}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.rate_limiter = RateLimiter.from_settings(settings)
    # Inside the access log and tracing, so that they see the answer the audit allowed.
    app.add_middleware(AuditMiddleware, fhir_base_path=settings.fhir_base_path)
    add_platform_layers(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> Response:
        """Readiness: the database and the audit log answer, their schemas migrated."""
        try:
            await request.app.state.database.ping()
            await request.app.state.audit.database.ping()
        except Exception as exc:  # any failure means "not ready", with the reason logged
            log.warning("not ready", extra={"error_type": type(exc).__name__})
            return error_response(
                unavailable("The database or the audit log is not available or not migrated")
            )
        return Response(content=b'{"status":"ready"}', media_type="application/json")

    if consumptions:
        app.include_router(consumer_router(consumptions))
    for router in routers:
        app.include_router(router)
    app.include_router(discovery_router(settings), prefix=settings.fhir_base_path)
    if registry.get("Subscription") is not None:
        app.include_router(subscription_operations(), prefix=settings.fhir_base_path)
    for router in operations:  # the service's own $operations, before the catch-all
        app.include_router(router, prefix=settings.fhir_base_path)
    app.include_router(fhir_router(registry), prefix=settings.fhir_base_path)
    return app
