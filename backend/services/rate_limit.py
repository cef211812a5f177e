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
the event loop on every request) and rejects async storages; the measurement is
in ``bench/results/rate_limiter.md``. ``limits`` parses the budgets and counts in
process; on Redis one Lua script per budget does what ``limits`` needs two round
trips for (acquire, then window stats — the latter an LRANGE of the whole
window, up to ``limit`` entries per request): same moving window, same list of
timestamps, one round trip and three small numbers back (bench/results/load.md).
The HTTP side (keys, headers, the 429) is ``backend/api/middleware.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from backend.config import Settings
from backend.core.logging import get_logger
from backend.services import multiplexed_redis
from backend.services.cache_service import redis_client
from backend.services.multiplexed_redis import MultiplexedRedis

log = get_logger(__name__)

KEY_PREFIX = "quoted:v1:rl"
SOCKET_TIMEOUT_SECONDS = 0.25  # as the cache's (cache_service.SOCKET_TIMEOUT_SECONDS)
FAILURE_BACKOFF_SECONDS = 5.0
API_BUDGETS_KEPT = 10_000  # identities whose API-wide budget is kept made (a few hundred bytes each)

GENERATE_PATHS = frozenset({"/api/quotes/generate", "/api/quotes/generate-from-audio"})
LOGIN_PATH = "/api/auth/login"
EXEMPT_PATHS = frozenset({"/api/billing/webhook"})  # Stripe: signed, retried by Stripe, never limited

_FAILURES = (RedisError, OSError, asyncio.TimeoutError, StorageError)

# One moving window per key: a list of request timestamps, newest first (the layout limits' own
# Redis storage uses). Entries that have left the window are popped from the tail first, so the list
# holds exactly the window: its length is the count, its tail the oldest entry. Each entry is pushed
# once and popped once — constant work per request, where a binary search over the list walked it
# on every call (bench/results/load_profile.md: the script's own cost in Redis halved).
# The push comes first and is taken back when it overflows: LPUSH returns the new length, so an allowed
# request (nearly all of them) needs no LLEN. The list never holds more than ``limit`` entries between calls.
# Returns {allowed 0|1, entries in the window, oldest entry in the window or false}.
_MOVING_WINDOW_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2])
local start = tonumber(ARGV[3]) - expiry
local oldest = redis.call('LINDEX', key, -1)
while oldest and tonumber(oldest) < start do
  redis.call('RPOP', key)
  oldest = redis.call('LINDEX', key, -1)
end
local count = redis.call('LPUSH', key, ARGV[3])
if count > limit then
  redis.call('LPOP', key)
  return {0, count - 1, oldest}
end
redis.call('EXPIRE', key, math.ceil(expiry))
if not oldest then oldest = ARGV[3] end
return {1, count, oldest}
"""


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit applied to one identity."""

    name: str  # "api", "generate", "login_ip", "login_email"
    item: RateLimitItem
    key: str  # "c:<contractor id>", "ip:<address>", "email:<sha256 prefix>"
    redis_key: str = field(init=False, repr=False, compare=False)  # where Redis keeps its window

    def __post_init__(self) -> None:
        object.__setattr__(self, "redis_key", f"{KEY_PREFIX}:{self.item.key_for(self.key)}")

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
        self._redis: Redis | None = None
        self._script: AsyncScript | None = None
        self._down_until = 0.0
        self._fast: MultiplexedRedis | None = None
        # The API-wide budget of each identity seen lately (contractor id or address), made once:
        # every /api request needs one.
        self._api_budgets: dict[uuid.UUID | str, Budget] = {}
        if settings.redis_url:
            self._redis = redis_client(settings.redis_url, timeout=SOCKET_TIMEOUT_SECONDS)
            self._script = self._redis.register_script(_MOVING_WINDOW_LUA)
            if multiplexed_redis.supports(settings.redis_url):
                # The per-request script over one multiplexed connection: ~30 instead of ~95 µs of
                # CPU per request (multiplexed_redis.py); redis-py does everything else.
                self._fast = MultiplexedRedis(settings.redis_url, timeout=SOCKET_TIMEOUT_SECONDS)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    @property
    def using_redis(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def budgets_for(self, *, method: str, path: str, contractor_id: uuid.UUID | None,
                    client_ip: Callable[[], str], login_email: str | None = None) -> list[Budget]:
        """The budgets one request counts against, the API-wide one first.

        ``client_ip`` gives the client's address; it is asked only when a budget is per address (an
        anonymous request, a sign-in): behind proxies, finding it means walking ``X-Forwarded-For``.
        """
        identity: uuid.UUID | str = contractor_id if contractor_id is not None else client_ip()
        api = self._api_budgets.get(identity)
        if api is None:
            if len(self._api_budgets) >= API_BUDGETS_KEPT:
                self._api_budgets.clear()
            key = f"c:{contractor_id}" if contractor_id is not None else f"ip:{identity}"
            item = self.authenticated if contractor_id is not None else self.unauthenticated
            api = self._api_budgets[identity] = Budget("api", item, key)
        key = api.key
        budgets = [api]
        if method == "POST" and path in GENERATE_PATHS:
            budgets.append(Budget("generate", self.generate, key))
        elif method == "POST" and path == LOGIN_PATH:
            budgets.append(Budget("login_ip", self.login, f"ip:{client_ip()}"))
            if login_email:
                budgets.append(Budget("login_email", self.login, email_identity(login_email)))
        return budgets

    async def hit(self, budgets: Sequence[Budget]) -> Verdict:
        """Count one request against each budget in turn; the first exhausted one refuses it."""
        verdicts = []
        for budget in budgets:
            verdict = await self._hit(budget)
            if not verdict.allowed:
                log.info("rate_limit.exceeded", budget=budget.name, key=budget.key, limit=budget.item.amount)
                return verdict
            verdicts.append(verdict)
        if len(verdicts) == 1:  # most requests: the API-wide budget only
            return verdicts[0]
        # Report the budget with the fewest requests left.
        return min(verdicts, key=lambda v: v.remaining)

    async def reset(self) -> None:
        """Forget every counter (tests and benchmarks)."""
        await self._memory.storage.reset()
        if self._redis is not None:
            try:
                keys = [key async for key in self._redis.scan_iter(match=f"{KEY_PREFIX}:*", count=500)]
                if keys:
                    await self._redis.unlink(*keys)
            except _FAILURES:
                pass

    async def close(self) -> None:
        if self._fast is not None:
            await self._fast.aclose()
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except _FAILURES:
                pass

    # -- internals ------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        first = time.monotonic() >= self._down_until
        self._down_until = time.monotonic() + self.failure_backoff
        if first:
            log.warning("rate_limit.redis_unavailable", error_type=type(exc).__name__,
                        fallback="in-process counters", backoff_seconds=self.failure_backoff)

    async def _hit(self, budget: Budget) -> Verdict:
        if self._script is not None and self.using_redis:
            try:
                return await self._redis_hit(self._script, budget, self._fast)
            except _FAILURES as exc:
                self._failed(exc)
        if self._redis is not None:
            self.fallback_hits += 1
        allowed = await self._memory.hit(budget.item, budget.key)
        stats = await self._memory.get_window_stats(budget.item, budget.key)
        return Verdict(allowed, budget, budget.item.amount, stats.remaining if allowed else 0, stats.reset_time)

    @staticmethod
    async def _redis_hit(script: AsyncScript, budget: Budget, fast: MultiplexedRedis | None) -> Verdict:
        item = budget.item
        expiry = item.get_expiry()
        now = time.time()
        args: list[Any] = [item.amount, expiry, repr(now)]
        if fast is not None:
            allowed, count, oldest = await fast.evalsha(script.sha, _MOVING_WINDOW_LUA, [budget.redis_key], args)
        else:
            allowed, count, oldest = await script(keys=[budget.redis_key], args=args)
        reset_at = (float(oldest) if oldest else now) + expiry
        return Verdict(bool(allowed), budget, item.amount, max(0, item.amount - int(count)), reset_at)


def create_rate_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(settings)
