"""The Quoted application: ``create_app()`` wires settings, middleware, routers and the lifespan.

``uvicorn backend.main:app`` serves the whole product (API and frontend).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api import (
    admin,
    auth,
    billing,
    contractors,
    customers,
    files,
    health,
    invoices,
    pricing_brain,
    quotes,
    share,
)
from backend.api.middleware import RateLimitMiddleware
from backend.api.openapi import install_bearer_security
from backend.config import RAILWAY_ORIGIN_REGEX, Settings, get_settings
from backend.core.errors import AppError
from backend.core.logging import configure_logging, get_logger
from backend.core.middleware import BodyLimitMiddleware, CORSMiddleware, RequestContextMiddleware, error_body
from backend.services import circuit_breaker, key_status, maintenance, storage_service
from backend.services.alerting_service import Alerts
from backend.services.billing_service import StripeGateway
from backend.services.cache_service import create_cache
from backend.services.database import Database, is_database_unavailable, unavailable_error
from backend.services.outbox_handlers import build_dispatcher, stop_dispatcher
from backend.services.rate_limit import create_rate_limiter
from backend.services.vendors import Vendors

log = get_logger("quoted.app")

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"

# SEC-002: the only routes that answer without an access token. Everything
# else requires one; tests/integration/test_authenticated_endpoints.py walks
# app.routes and fails on any route outside this list that answers without it.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/q/{token}"),  # the SPA's public share pages (SEC-001 frontend)
    ("GET", "/i/{token}"),
    ("GET", "/api/billing/plans"),
    ("POST", "/api/billing/webhook"),  # verified by its Stripe-Signature instead (PAY-001)
})
PUBLIC_PREFIXES = ("/api/quotes/shared/", "/api/invoices/shared/", "/files/")

# Every API router, in the order their routes are matched (create_app): the health checks, then the hottest
# authenticated route (GET /api/contractors/me, load_profile.md); the public share routes before
# quotes/invoices, whose /{id} paths they sit beside.
ROUTERS: tuple[APIRouter, ...] = (
    health.router, contractors.router, admin.router, auth.router, customers.router, pricing_brain.router,
    share.router, quotes.router, invoices.router, files.router, billing.router,
)


# -- error rendering ----------------------------------------------------------


def _json_error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, code, detail), status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def _validation_sentence(error: dict[str, Any]) -> str:
    field = _field_name(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"{field}: this field does not exist on this resource; remove it."
    if kind == "missing":
        return "A JSON body is required." if field == "body" else f"{field}: this field is required."
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{field}: {message}."


async def handle_app_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AppError):  # registered for this type only
        raise exc
    return _json_error(exc.status_code, exc.code, exc.message, exc.headers or None)


async def handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for this type only
        raise exc
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return _json_error(400, "invalid_json", "The body is not valid JSON; check quotes, commas and brackets.")
    sentences = [_validation_sentence(e) for e in errors[:3]]
    more = f" ({len(errors) - 3} more problems.)" if len(errors) > 3 else ""
    return _json_error(422, "validation_error", " ".join(sentences) + more)


async def handle_http_exception(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for this type only
        raise exc
    codes = {404: ("not_found", "There is nothing at this address."),
             405: ("method_not_allowed", "This address does not accept that method.")}
    code, detail = codes.get(exc.status_code, ("http_error", str(exc.detail)))
    return _json_error(exc.status_code, code, detail, dict(exc.headers or {}) or None)


async def handle_database_error(_: Request, exc: Exception) -> JSONResponse:
    if not is_database_unavailable(exc):
        raise exc  # a bug, not an outage: the request middleware answers 500
    log.warning("db.unavailable", error_type=type(exc).__name__)
    error = unavailable_error(exc)
    return _json_error(error.status_code, error.code, error.message, error.headers)


# -- lifespan -------------------------------------------------------------------


def _startup_warnings(settings: Settings) -> None:
    if settings.jwt_secret is None:
        log.warning("config.dev_jwt_secret", hint="set JWT_SECRET; the built-in secret is for development only")
    if settings.workers == 1 and (settings.is_sqlite or not settings.redis_url):
        log.warning("config.single_worker",
                    reason="SQLite or no REDIS_URL: the embedded default runs one worker process")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    db = Database(settings)
    app.state.db = db
    app.state.storage = storage_service.create_storage(settings)  # INFRA-001: S3 or local files
    app.state.cache = create_cache(settings)  # INFRA-004: Redis, or in-process without REDIS_URL
    # INFRA-006/009: this process's circuit breakers and vendor clients (one httpx client each).
    breakers = circuit_breaker.install(circuit_breaker.BreakerRegistry.from_settings(settings))
    app.state.vendors = Vendors.from_settings(settings, breakers)
    app.state.stripe = StripeGateway(settings, breakers["stripe"])  # PAY-001: the only Stripe client
    # INFRA-010: the alert sender (Slack, de-duplicated in Redis); a breaker opening is a warning.
    alerts: Alerts = app.state.alerts
    alerts.start(redis=app.state.cache.redis, breaker=breakers["slack"])
    breakers.add_listener(alerts.on_breaker_change)
    db.log_pool_settings()
    _startup_warnings(settings)
    for due in key_status.keys_due(settings):  # SEC-006: logged by keys_due, alerted here
        alerts.send_alert("warning", f"Key rotation due: {due.name}",
                          f"{due.name} is {due.age_days} days old (rotate every {key_status.ROTATION_DAYS}); "
                          "see docs/KEY_ROTATION_RUNBOOK.md.", {"key": due.name, "age_days": due.age_days})
    try:
        # Best effort: the app starts even when the database is unreachable
        # (/health/live answers, /health/ready says 503 until it is back).
        await asyncio.wait_for(db.check_connection_budget(settings.workers), timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure only skips a warning
        log.warning("db.unreachable_at_startup", error_type=type(exc).__name__)
    housekeeping = asyncio.create_task(maintenance.run_forever(db), name="quoted.maintenance")
    cache = app.state.cache
    # The near cache hears invalidations from every process; it serves nothing until subscribed.
    invalidations = (asyncio.create_task(cache.near.run_forever(cache.redis), name="quoted.near_cache")
                     if cache.near is not None and cache.redis is not None else None)
    # The outbox dispatcher (SPEC §1): every worker runs one; SKIP LOCKED shares the work.
    app.state.dispatcher = build_dispatcher(settings, db=db, storage=app.state.storage, vendors=app.state.vendors)
    app.state.dispatcher.on_item_dead = alerts.on_outbox_dead
    outbox_task = asyncio.create_task(app.state.dispatcher.run_forever(), name="quoted.outbox")
    log.info("app.started", environment=settings.environment)
    try:
        yield
    finally:
        housekeeping.cancel()
        if invalidations is not None:
            invalidations.cancel()
        await asyncio.gather(housekeeping, *([invalidations] if invalidations else []), return_exceptions=True)
        await stop_dispatcher(app.state.dispatcher, outbox_task)
        await alerts.aclose()  # before the cache: it shares the cache's Redis client
        await app.state.vendors.aclose()
        await app.state.stripe.aclose()
        await app.state.cache.close()
        if app.state.rate_limiter is not None:
            await app.state.rate_limiter.close()
        await db.dispose()
        log.info("app.stopped")


# -- the app --------------------------------------------------------------------


def _add_routes_flat(app: FastAPI, routers: tuple[APIRouter, ...]) -> None:
    """Our routes in one flat list, ahead of FastAPI's docs routes.

    ``app.include_router`` (FastAPI ≥ 0.137) appends a lazy node that matches its whole router, then
    matches it again to dispatch, so a request scanned every earlier router in full and its own twice
    (~30 µs on ``GET /me``; bench/results/load_profile.md). Our routers set their prefix and tags on the
    ``APIRouter`` itself, so each ``APIRoute`` already carries its full path and tags, and adding the
    routes themselves is what ``include_router`` did before it became lazy: ``/openapi.json`` is the same
    (``tests/unit/test_routing.py``). ``/docs``, ``/redoc`` and ``/openapi.json`` come after ours:
    requests to the API no longer try them first.
    """
    builtin = list(app.router.routes)
    app.router.routes.clear()
    for router in routers:
        other = [route for route in router.routes if not isinstance(route, APIRoute)]
        if other:  # a nested router would need its prefix and settings applied: not done here
            raise TypeError(f"router {router.prefix or '/'} holds {other[0]!r}; only APIRoutes are added flat")
        app.router.routes.extend(router.routes)
    app.router.routes.extend(builtin)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(log_format=settings.effective_log_format, level=settings.log_level)
    docs = not settings.is_production
    app = FastAPI(
        title="Quoted API",
        version="1.0.0",
        description="Contractors describe a job; Quoted prices it with their own rates.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json",
        # FastAPI's native OpenTelemetry: Quoted exports no traces or metrics (structlog lines are its
        # telemetry), so none of it runs per request — not even the check for configured providers.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.alerts = Alerts.from_settings(settings)  # started in the lifespan; the middleware reports to it

    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(SQLAlchemyError, handle_database_error)
    app.add_exception_handler(OSError, handle_database_error)

    _add_routes_flat(app, ROUTERS)

    install_bearer_security(app)

    if FRONTEND_DIR.is_dir():
        # Share links are deep links into the SPA: /q/{token} and /i/{token} serve index.html.
        async def spa_index(token: str) -> FileResponse:  # the SPA reads the token from the URL
            return FileResponse(FRONTEND_DIR / "index.html")

        for prefix in ("/q", "/i"):
            app.add_api_route(f"{prefix}/{{token}}", spa_index, methods=["GET"], include_in_schema=False)
        app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")

    # Added innermost first: the request context middleware ends up outermost.
    app.add_middleware(BodyLimitMiddleware, raw_paths=("/api/billing/webhook",))
    # SEC-004: inside CORS, outside the body limits, so 429 comes before 401 and 422.
    app.state.rate_limiter = create_rate_limiter(settings) if settings.rate_limit_enabled else None
    if app.state.rate_limiter is not None:
        app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter, settings=settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o for o in settings.cors_origins if o != "*"],
        allow_origin_regex=RAILWAY_ORIGIN_REGEX,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Requested-With"],
        expose_headers=["X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
                        "Retry-After"],
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware, hsts=settings.is_production, docs_enabled=docs,
                       observer=app.state.alerts)
    return app


app = create_app()
