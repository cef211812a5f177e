"""Health checks (INFRA-007): liveness touches nothing; readiness checks every dependency.

Both are public, exempt from rate limits and logged at debug level (SPEC §4).
A readiness result is also reported to the alerts, which raise a critical
alert when it turns unavailable (transitions only, de-duplicated).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.services import health_service

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    """200 whenever the process can answer."""
    return {"status": "ok"}


@router.get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", responses={503: {"description": "The database is down."}})
async def ready(request: Request) -> JSONResponse:
    """Database, Redis, storage, required settings and circuit breakers, each with status and latency.

    503 (+ ``Retry-After``) when the database is down; 200 with ``"status": "degraded"``
    when Redis, storage or a vendor breaker is down; 200 ``"ok"`` otherwise.
    """
    state = request.app.state
    code, body = await health_service.readiness(state.settings, db=state.db, cache=state.cache,
                                                storage=state.storage)
    alerts = getattr(state, "alerts", None)
    if alerts is not None:
        alerts.on_readiness(body["status"], body["down"])
    headers = {"Retry-After": str(health_service.RETRY_AFTER_SECONDS)} if code == 503 else None
    return JSONResponse(body, status_code=code, headers=headers)
