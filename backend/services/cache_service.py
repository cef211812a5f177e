"""Shared cache (INFRA-004): Redis when ``REDIS_URL`` is set, an in-process TTL map otherwise.

The cache is an optimisation, never a dependency: every Redis failure is a
miss (``get``) or a no-op (``set``/``delete``), logged once and counted. After a
failure the cache skips Redis for ``failure_backoff`` seconds, so a dead or
stalled Redis costs a flag check per request, not a connect timeout. Timeouts
are short (250 ms) and redis-py's default retries are off (SPEC §2).

Keys carry a versioned prefix (``quoted:v1:``): a deploy that changes the shape
of a cached value bumps the version instead of reading old entries.

Invalidation is race-safe for cache-aside reads. ``delete`` leaves a short
*tombstone* instead of removing the key, and cache-aside fills use
:meth:`Cache.fill` (``SET NX``), so a reader that loaded the old row before a
writer committed cannot put it back afterwards. Writers invalidate inside their
transaction and again right after the commit (:func:`invalidate_after_commit`,
run by the request's session dependency), which also covers transactions that
outlive the tombstone.

Keys under a :class:`~backend.services.near_cache.NearCache` prefix (the contractor snapshots)
are also kept decoded in each process; every ``delete`` of such a key is published to all
processes in the same round trip as its tombstone (see ``near_cache.py``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.logging import get_logger
from backend.services.near_cache import ALL_KEYS, NearCache

log = get_logger(__name__)

KEY_PREFIX = "quoted:v1:"
# Short, but not so short that a busy event loop (p99 > 100 ms at saturation, bench/results/load.md)
# reads as a dead Redis and sends every worker to the fallback at the worst moment.
SOCKET_TIMEOUT_SECONDS = 0.25
FAILURE_BACKOFF_SECONDS = 5.0
TOMBSTONE_SECONDS = 5.0
MEMORY_MAX_ENTRIES = 10_000
_TOMBSTONE = b"!"  # never valid JSON, so it cannot collide with a cached value
_AFTER_COMMIT = "quoted.cache.after_commit"
# Read on every authenticated request, so kept decoded in each process as well (near_cache.py).
NEAR_CACHED = ("contractor:",)

# Everything a broken or slow Redis can raise; each one is a miss or a no-op.
_REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    near_hits: int = 0  # of ``hits``: answered from this process's near cache
    sets: int = 0
    deletes: int = 0
    errors: int = 0  # operations that failed against Redis
    skipped: int = 0  # operations not sent because Redis is in back-off

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def redis_client(url: str, *, timeout: float = SOCKET_TIMEOUT_SECONDS, max_connections: int = 512) -> Redis:
    """A redis-py client that fails fast: short timeouts, no retries (redis-py 8 retries 10× by default)."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        max_connections=max_connections,
    )


class _MemoryStore:
    """In-process TTL map for the embedded default (one process, so nothing is shared)."""

    def __init__(self, max_entries: int = MEMORY_MAX_ENTRIES) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries

    def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if expires_at <= time.monotonic():
            self._data.pop(key, None)
            return None
        return raw

    def set(self, key: str, raw: bytes, ttl: float, *, only_if_absent: bool = False) -> bool:
        if only_if_absent and self.get(key) is not None:
            return False
        if key not in self._data and len(self._data) >= self._max:
            self._evict()
        self._data[key] = (time.monotonic() + ttl, raw)
        return True

    def delete_matching(self, pattern: str) -> int:
        doomed = [k for k in self._data if fnmatch.fnmatchcase(k, pattern)]
        for key in doomed:
            del self._data[key]
        return len(doomed)

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (exp, _) in self._data.items() if exp <= now]:
            del self._data[key]
        while len(self._data) >= self._max:  # still full: drop the oldest insertions
            del self._data[next(iter(self._data))]


class Cache:
    """``get`` / ``set(key, value, ttl)`` / ``delete`` / ``invalidate_pattern`` over JSON values."""

    def __init__(self, redis: Redis | None = None, *, prefix: str = KEY_PREFIX,
                 failure_backoff: float = FAILURE_BACKOFF_SECONDS,
                 tombstone_seconds: float = TOMBSTONE_SECONDS, near: NearCache | None = None) -> None:
        self.redis = redis
        self.near = near
        self.prefix = prefix
        self.failure_backoff = failure_backoff
        self.tombstone_seconds = tombstone_seconds
        self.stats = CacheStats()
        self._memory = _MemoryStore() if redis is None else None
        self._down_until = 0.0

    @property
    def backend(self) -> str:
        return "redis" if self.redis is not None else "memory"

    @property
    def redis_available(self) -> bool:
        """False while Redis is in back-off after a failure."""
        return self.redis is not None and time.monotonic() >= self._down_until

    # -- operations ---------------------------------------------------------------

    async def get(self, key: str) -> Any | None:
        """The cached value, or ``None`` for a miss (including any Redis failure)."""
        raw = await self._get_raw(self.prefix + key)
        if raw is None or raw == _TOMBSTONE:
            self.stats.misses += 1
            log.debug("cache.miss", key=key)
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        log.debug("cache.hit", key=key)
        return value

    def get_near(self, key: str) -> Any | None:
        """The decoded value kept in this process (``near_cache.py``), or ``None``; no I/O."""
        if self.near is None:
            return None
        value = self.near.get(key)
        if value is not None:
            self.stats.hits += 1
            self.stats.near_hits += 1
        return value

    @property
    def near_generation(self) -> int:
        return self.near.generation if self.near is not None else 0

    def put_near(self, key: str, value: Any, generation: int) -> None:
        """Keep the decoded ``value`` in this process too (refused after a newer invalidation).
        Not while Redis is in back-off here: the value did not come through Redis, and the
        shared cache should be filled again as soon as Redis is back."""
        if self.near is not None and (self.redis is None or self.redis_available):
            self.near.put(key, value, generation)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` (JSON-serialisable) for ``ttl`` seconds, replacing anything there."""
        await self._set_raw(self.prefix + key, _encode(value), ttl, only_if_absent=False)
        if self.near is not None and self.near.covers(key):
            await self._publish([key])  # other processes' decoded copies are now stale

    async def fill(self, key: str, value: Any, ttl: float) -> None:
        """Cache-aside fill: store only if the key is absent, so it never overwrites an
        invalidation's tombstone (the value may have been read before that write committed)."""
        await self._set_raw(self.prefix + key, _encode(value), ttl, only_if_absent=True)

    async def delete(self, *keys: str) -> None:
        """Invalidate ``keys``: reads miss and fills are refused for ``tombstone_seconds``."""
        if not keys:
            return
        self.stats.deletes += len(keys)
        full = [self.prefix + k for k in keys]
        announcement = None
        if self.near is not None:
            self.near.invalidate(keys)  # this process first, before any await
            announcement = self.near.message(keys)
        if self._memory is not None:
            for key in full:
                self._memory.set(key, _TOMBSTONE, self.tombstone_seconds)
            return
        redis = self._live_redis()
        if redis is None:
            return
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for key in full:
                    pipe.set(key, _TOMBSTONE, px=int(self.tombstone_seconds * 1000))
                if announcement is not None and self.near is not None:
                    pipe.publish(self.near.channel, announcement)
                await pipe.execute()
        except _REDIS_FAILURES as exc:
            self._failed("delete", exc)

    async def invalidate_pattern(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern`` (under the prefix): SCAN + UNLINK, never KEYS."""
        full = self.prefix + pattern
        if self.near is not None:
            await self._publish([ALL_KEYS])
        if self._memory is not None:
            return self._memory.delete_matching(full)
        redis = self._live_redis()
        if redis is None:
            return 0
        removed = 0
        try:
            batch: list[Any] = []
            async for key in redis.scan_iter(match=full, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += int(await redis.unlink(*batch))
                    batch = []
            if batch:
                removed += int(await redis.unlink(*batch))
        except _REDIS_FAILURES as exc:
            self._failed("invalidate_pattern", exc)
        self.stats.deletes += removed
        return removed

    async def ping(self) -> bool:
        if self.redis is None:
            return True
        try:
            return bool(await self.redis.ping())
        except _REDIS_FAILURES:
            return False

    async def close(self) -> None:
        if self.redis is not None:
            try:
                await self.redis.aclose()
            except _REDIS_FAILURES:  # closing a dead connection is not an error
                pass

    # -- internals ------------------------------------------------------------------

    def _live_redis(self) -> Redis | None:
        """The Redis client, or ``None`` while it is in back-off after a failure."""
        if time.monotonic() < self._down_until:
            self.stats.skipped += 1
            return None
        return self.redis

    async def _publish(self, keys: list[str]) -> None:
        """Drop ``keys`` from this process's near cache and tell every other process to."""
        if self.near is None:
            return
        self.near.invalidate(keys)
        announcement = self.near.message(keys)
        redis = self._live_redis()
        if announcement is None or redis is None:
            return
        try:
            await redis.publish(self.near.channel, announcement)
        except _REDIS_FAILURES as exc:
            self._failed("publish", exc)

    def _failed(self, operation: str, exc: BaseException) -> None:
        self.stats.errors += 1
        first = time.monotonic() >= self._down_until
        self._down_until = time.monotonic() + self.failure_backoff
        if first:
            log.warning("cache.redis_unavailable", operation=operation, error_type=type(exc).__name__,
                        backoff_seconds=self.failure_backoff)

    async def _get_raw(self, key: str) -> bytes | None:
        if self._memory is not None:
            return self._memory.get(key)
        redis = self._live_redis()
        if redis is None:
            return None
        try:
            raw = await redis.get(key)
        except _REDIS_FAILURES as exc:
            self._failed("get", exc)
            return None
        return raw if isinstance(raw, bytes) or raw is None else str(raw).encode()

    async def _set_raw(self, key: str, raw: bytes, ttl: float, *, only_if_absent: bool) -> None:
        self.stats.sets += 1
        if self._memory is not None:
            self._memory.set(key, raw, ttl, only_if_absent=only_if_absent)
            return
        redis = self._live_redis()
        if redis is None:
            return
        try:
            await redis.set(key, raw, px=max(1, int(ttl * 1000)), nx=only_if_absent)
        except _REDIS_FAILURES as exc:
            self._failed("set", exc)


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def create_cache(settings: Settings) -> Cache:
    """The app's cache: Redis when ``REDIS_URL`` is set, in-process otherwise."""
    channel = KEY_PREFIX + "invalidate"  # one channel per key space, like the keys themselves
    if settings.redis_url:
        near = NearCache(prefixes=NEAR_CACHED, channel=channel)
        return Cache(redis_client(settings.redis_url), prefix=KEY_PREFIX, near=near)
    # One process (the embedded default): nobody else to hear from, so the near cache is always on.
    return Cache(prefix=KEY_PREFIX, near=NearCache(prefixes=NEAR_CACHED, channel=channel, subscribed=True))


# -- invalidation after the commit ----------------------------------------------------


def invalidate_after_commit(session: AsyncSession, cache: Cache, keys: Iterable[str]) -> None:
    """Invalidate ``keys`` again once ``session`` commits (see :func:`run_after_commit`)."""
    pending: list[tuple[Cache, tuple[str, ...]]] = session.info.setdefault(_AFTER_COMMIT, [])
    pending.append((cache, tuple(keys)))


async def run_after_commit(session: AsyncSession) -> None:
    """Run the invalidations registered on ``session``; call right after a successful commit."""
    for cache, keys in session.info.pop(_AFTER_COMMIT, ()):
        await cache.delete(*keys)


def discard_after_commit(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT, None)
