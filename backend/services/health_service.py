"""Readiness (INFRA-007): every dependency checked concurrently, each within its own timeout.

``status`` is ``unavailable`` (503) when the database is down — nothing works
without it — ``degraded`` (200) when Redis, storage or a vendor circuit breaker
is down (the app still serves, with fallbacks), ``ok`` otherwise. Every check
reports ``status`` and ``latency_ms``; nothing in the report names a host, URL,
version or secret, and exception details stay in the logs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from backend.config import Settings
from backend.core.logging import get_logger
from backend.services.cache_service import Cache
from backend.services.circuit_breaker import breaker_states
from backend.services.database import Database
from backend.services.storage_service import Storage

log = get_logger(__name__)

CHECK_TIMEOUT_SECONDS = 0.3
RETRY_AFTER_SECONDS = 5


async def _timed(name: str, probe: Callable[[], Awaitable[Any]], limit: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout=limit)
        status = "ok"
    except TimeoutError:
        status = "down"
        log.warning("health.check_timeout", check=name, timeout_s=limit)
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the type goes to the log only
        status = "down"
        log.warning("health.check_failed", check=name, error_type=type(exc).__name__)
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def missing_settings(settings: Settings) -> list[str]:
    """Names of settings required in this environment that are not set (names only, never values)."""
    missing = []
    if settings.is_production:
        if settings.jwt_secret is None:
            missing.append("JWT_SECRET")
        if not settings.redis_url:
            missing.append("REDIS_URL")
    if settings.storage_backend == "s3" and not settings.aws_s3_bucket:
        missing.append("AWS_S3_BUCKET")
    return missing


async def readiness(settings: Settings, *, db: Database, cache: Cache, storage: Storage,
                    check_timeout: float = CHECK_TIMEOUT_SECONDS) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``/health/ready``."""
    probes: dict[str, Callable[[], Awaitable[Any]]] = {"database": db.ping, "storage": storage.check}
    redis = cache.redis
    if redis is not None:
        probes["redis"] = redis.ping
    results = await asyncio.gather(*(_timed(name, probe, check_timeout) for name, probe in probes.items()))
    checks: dict[str, Any] = dict(zip(probes, results, strict=True))
    if redis is None:
        checks["redis"] = {"status": "not_configured", "latency_ms": 0.0}
    elif cache.near is not None:
        # Informational, never degrades readiness: while "off" (subscription not confirmed) every read
        # goes to Redis, which is correct, only slower (near_cache.py).
        checks["redis"]["near_cache"] = "subscribed" if cache.near.enabled else "off"
    missing = missing_settings(settings)
    checks["settings"] = {"status": "missing" if missing else "ok", "latency_ms": 0.0, "missing": missing}
    breakers = breaker_states()
    checks["circuit_breakers"] = {
        "status": "ok" if all(state == "closed" for state in breakers.values()) else "degraded",
        "latency_ms": 0.0,
        "states": breakers,
    }
    down = [name for name in ("database", "redis", "storage") if checks[name]["status"] == "down"]
    if missing:
        down.append("settings")
    down += [f"{vendor} breaker" for vendor, state in breakers.items() if state == "open"]
    if checks["database"]["status"] == "down":
        status, code = "unavailable", 503
    elif down or checks["circuit_breakers"]["status"] != "ok":
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return code, {"status": status, "checks": checks, "down": down}
