"""Health checks: liveness touches nothing; readiness checks the database.

The full INFRA-007 readiness (Redis, storage, breakers, per-check latency)
grows here with those features.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 0.3


@router.get("/health/live")
async def live() -> dict[str, str]:
    """200 whenever the process can answer."""
    return {"status": "ok"}


@router.get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", responses={503: {"description": "The database is down."}})
async def ready(request: Request) -> JSONResponse:
    """200 when the database answers ``SELECT 1`` within its timeout; 503 otherwise."""
    started = time.perf_counter()
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(request.app.state.db.ping(), timeout=CHECK_TIMEOUT_SECONDS)
        checks["database"] = {"status": "ok"}
    except Exception:  # noqa: BLE001 - any failure means "not ready"; details stay in the logs
        checks["database"] = {"status": "down"}
    checks["database"]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    healthy = checks["database"]["status"] == "ok"
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
        headers={} if healthy else {"Retry-After": "5"},
    )
