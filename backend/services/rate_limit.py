"""Per-user rate limits (SEC-004) on ``limits.aio``: moving windows, Redis shared, in-process fallback.

Budgets (``RATE_LIMIT_*``), each a moving window, so a burst across a minute
boundary cannot double a budget:

* every ``/api`` request: ``RATE_LIMIT_AUTHENTICATED`` per verified contractor,
  else ``RATE_LIMIT_UNAUTHENTICATED`` per client IP — one budget per key across
  the whole API, not per path;
* quote generation (text and audio) additionally ``RATE_LIMIT_GENERATE`` per key;
* login additionally ``RATE_LIMIT_LOGIN`` per client IP *and* per email.

Counters live in Redis when ``REDIS_URL`` is set (shared by every worker and
replica) and in process otherwise. When Redis fails, the limiter counts in
process for ``failure_backoff`` seconds and then tries Redis again, so requests
never fail because of the limiter and shared limits resume by themselves.

Why not slowapi: it calls its storage synchronously (a Redis round trip blocks
the event loop on every request) and rejects async storages. The same engine,
``limits``, is awaited here instead; the measurement is in
``bench/results/rate_limiter.md``. The HTTP side (keys, headers, the 429) is
``backend/api/middleware.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from backend.config import Settings
from backend.core.logging import get_logger

log = get_logger(__name__)

KEY_PREFIX = "quoted:v1:rl"
SOCKET_TIMEOUT_SECONDS = 0.075
FAILURE_BACKOFF_SECONDS = 5.0

GENERATE_PATHS = frozenset({"/api/quotes/generate", "/api/quotes/generate-from-audio"})
LOGIN_PATH = "/api/auth/login"
EXEMPT_PATHS = frozenset({"/api/billing/webhook"})  # Stripe: signed, retried by Stripe, never limited

_FAILURES = (RedisError, OSError, asyncio.TimeoutError, StorageError)


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit applied to one identity."""

    name: str  # "api", "generate", "login_ip", "login_email"
    item: RateLimitItem
    key: str  # "c:<contractor id>", "ip:<address>", "email:<sha256 prefix>"

    def describe(self) -> str:
        per = {"api": "per account" if self.key.startswith("c:") else "per address",
               "generate": "for quote generation", "login_ip": "for sign-in from this address",
               "login_email": "for sign-in to this account"}[self.name]
        window = f"{self.item.multiples} {self.item.GRANULARITY.name}s" if self.item.multiples > 1 \
            else self.item.GRANULARITY.name
        return f"{self.item.amount} requests per {window} {per}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one request against its budgets, and what its headers report."""

    allowed: bool
    budget: Budget  # the exceeded budget, or the tightest one when allowed
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window frees a request

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(max(0, self.remaining)).encode()),
            (b"x-ratelimit-reset", str(math.ceil(self.reset_at)).encode()),
        ]


def email_identity(email: str) -> str:
    """Login budgets are keyed by a hash, so Redis never holds the address itself."""
    digest = hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
    return "email:" + digest[:32]


class RateLimiter:
    """Counts requests against their budgets; Redis when configured, in process otherwise."""

    def __init__(self, settings: Settings, *, failure_backoff: float = FAILURE_BACKOFF_SECONDS) -> None:
        self.authenticated = parse(settings.rate_limit_authenticated)
        self.unauthenticated = parse(settings.rate_limit_unauthenticated)
        self.generate = parse(settings.rate_limit_generate)
        self.login = parse(settings.rate_limit_login)
        self.failure_backoff = failure_backoff
        self.fallback_hits = 0  # requests counted in process because Redis failed
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._redis_storage: RedisStorage | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self._down_until = 0.0
        if settings.redis_url:
            options: dict[str, Any] = {
                "socket_timeout": SOCKET_TIMEOUT_SECONDS,
                "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
                "retry": Retry(NoBackoff(), 0),  # redis-py 8 would retry 10 times (SPEC §2)
                "retry_on_timeout": False,
                "health_check_interval": 0,
                "max_connections": 512,
            }
            self._redis_storage = RedisStorage(
                "async+" + settings.redis_url, implementation="redispy", key_prefix=KEY_PREFIX,
                **cast(Any, options),
            )
            self._redis = MovingWindowRateLimiter(self._redis_storage)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    @property
    def using_redis(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def budgets_for(self, *, method: str, path: str, contractor_id: uuid.UUID | None, client_ip: str,
                    login_email: str | None = None) -> list[Budget]:
        """The budgets one request counts against, the API-wide one first."""
        key = f"c:{contractor_id}" if contractor_id is not None else f"ip:{client_ip}"
        item = self.authenticated if contractor_id is not None else self.unauthenticated
        budgets = [Budget("api", item, key)]
        if method == "POST" and path in GENERATE_PATHS:
            budgets.append(Budget("generate", self.generate, key))
        elif method == "POST" and path == LOGIN_PATH:
            budgets.append(Budget("login_ip", self.login, f"ip:{client_ip}"))
            if login_email:
                budgets.append(Budget("login_email", self.login, email_identity(login_email)))
        return budgets

    async def hit(self, budgets: Sequence[Budget]) -> Verdict:
        """Count one request against each budget in turn; the first exhausted one refuses it."""
        for budget in budgets:
            if not await self._hit(budget):
                reset_at, remaining = await self._stats(budget)
                log.info("rate_limit.exceeded", budget=budget.name, key=budget.key, limit=budget.item.amount)
                return Verdict(False, budget, budget.item.amount, 0, reset_at)
        # Report the budget with the fewest requests left.
        verdicts = []
        for budget in budgets:
            reset_at, remaining = await self._stats(budget)
            verdicts.append(Verdict(True, budget, budget.item.amount, remaining, reset_at))
        return min(verdicts, key=lambda v: v.remaining)

    async def reset(self) -> None:
        """Forget every counter (tests and benchmarks)."""
        await self._memory.storage.reset()
        if self._redis_storage is not None:
            try:
                await self._redis_storage.reset()
            except _FAILURES:
                pass

    async def close(self) -> None:
        if self._redis_storage is not None:
            try:
                client = getattr(self._redis_storage.bridge, "storage", None)
                if client is not None:
                    await client.aclose()
            except _FAILURES:
                pass

    # -- internals ------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        first = time.monotonic() >= self._down_until
        self._down_until = time.monotonic() + self.failure_backoff
        if first:
            log.warning("rate_limit.redis_unavailable", error_type=type(exc).__name__,
                        fallback="in-process counters", backoff_seconds=self.failure_backoff)

    async def _hit(self, budget: Budget) -> bool:
        if self._redis is not None and self.using_redis:
            try:
                return await self._redis.hit(budget.item, budget.key)
            except _FAILURES as exc:
                self._failed(exc)
        if self._redis is not None:
            self.fallback_hits += 1
        return await self._memory.hit(budget.item, budget.key)

    async def _stats(self, budget: Budget) -> tuple[float, int]:
        strategy = self._memory
        if self._redis is not None and self.using_redis:
            try:
                stats = await self._redis.get_window_stats(budget.item, budget.key)
                return stats.reset_time, stats.remaining
            except _FAILURES as exc:
                self._failed(exc)
        stats = await strategy.get_window_stats(budget.item, budget.key)
        return stats.reset_time, stats.remaining


def create_rate_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(settings)
