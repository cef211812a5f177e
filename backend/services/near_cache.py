"""A per-process copy of the hottest cache entries, trusted only while invalidations are heard.

Every authenticated request reads the contractor snapshot (``contractor_cache``). From Redis
that is one round trip per request — ~100 µs of this process's CPU in redis-py plus Redis's own,
more than a whole bare FastAPI request (``bench/results/load_profile.md``). The near cache keeps
the decoded snapshot in the worker, so a hit costs a dict lookup.

Correctness rests on hearing every invalidation:

* ``Cache.delete`` drops the key here at once and PUBLISHes it, in the same pipeline as the
  Redis tombstone, on ``channel``; every worker of every instance subscribes to it.
* The near cache serves entries only while its subscription is confirmed (``enabled``). When the
  subscription breaks — Redis killed, a read error, a PING unanswered for ``ping_timeout`` — it is
  switched off and emptied, and reads go to Redis (or its fallback) as before. Each (re)subscribe
  confirmation empties it again: messages published while it was away are lost.
* A fill races an invalidation (the value was read from Redis or the database just before the
  writer's delete): ``put`` carries the ``generation`` read before the lookup and is refused if
  any invalidation arrived in between.
* ``ttl`` bounds what a lost-but-undetected message could cost (an entry lives at most that
  long), and ``max_entries`` bounds memory.

So revocation (logout-all, password change, plan change) reaches every worker within the
pub/sub delivery latency — milliseconds — instead of at the next Redis read. With no Redis
(the embedded default: one process) the near cache is always on and invalidated locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from backend.core.cancellation import cancel_requested
from backend.core.logging import get_logger

log = get_logger(__name__)

NEAR_TTL_SECONDS = 30.0
NEAR_MAX_ENTRIES = 10_000
PING_INTERVAL_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 2.0
RETRY_SECONDS = 1.0
ALL_KEYS = "*"  # an invalidation message that empties every near cache


class NearCache:
    """Decoded values for keys under ``prefixes``, per process; see the module docstring."""

    def __init__(self, *, prefixes: tuple[str, ...], channel: str, ttl: float = NEAR_TTL_SECONDS,
                 max_entries: int = NEAR_MAX_ENTRIES, subscribed: bool = False,
                 ping_interval: float = PING_INTERVAL_SECONDS, ping_timeout: float = PING_TIMEOUT_SECONDS,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.prefixes = prefixes
        self.channel = channel
        self.ttl = ttl
        self.max_entries = max_entries
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.retry_seconds = retry_seconds
        # Without Redis there is nobody else to hear from: on from the start (see create_cache).
        self.enabled = subscribed
        self.generation = 0
        self.hits = 0
        self.invalidations = 0
        self._entries: dict[str, tuple[float, Any]] = {}

    def covers(self, key: str) -> bool:
        return key.startswith(self.prefixes)

    # -- reads and fills ----------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        self.hits += 1
        return entry[1]

    def put(self, key: str, value: Any, generation: int) -> None:
        """Keep ``value`` unless an invalidation arrived since ``generation`` was read."""
        if not self.enabled or generation != self.generation or not self.covers(key):
            return
        if len(self._entries) >= self.max_entries and key not in self._entries:
            self._entries.pop(next(iter(self._entries)))  # the oldest fill: dicts keep insertion order
        self._entries[key] = (time.monotonic() + self.ttl, value)

    # -- invalidation ----------------------------------------------------------------

    def invalidate(self, keys: Iterable[str]) -> None:
        self.generation += 1
        self.invalidations += 1
        for key in keys:
            if key == ALL_KEYS:
                self._entries.clear()
                return
            self._entries.pop(key, None)

    def message(self, keys: Iterable[str]) -> str | None:
        """The payload to PUBLISH for ``keys``, or ``None`` when none of them is near-cached."""
        covered = [k for k in keys if k == ALL_KEYS or self.covers(k)]
        return json.dumps(covered) if covered else None

    def _switch_off(self) -> None:
        self.enabled = False
        self.generation += 1
        self._entries.clear()

    def _heard(self, data: Any) -> None:
        try:
            keys = json.loads(data)
        except (TypeError, ValueError):
            keys = [ALL_KEYS]  # a message we cannot read: assume the worst
        if not isinstance(keys, list):
            keys = [ALL_KEYS]
        self.invalidate(str(k) for k in keys)

    # -- the subscription ----------------------------------------------------------------

    async def run_forever(self, redis: Redis) -> None:
        """Subscribe to ``channel`` and apply invalidations; off whenever the subscription is not sure."""
        failures = 0
        while True:
            pubsub = redis.pubsub()
            try:
                await self._listen(pubsub)
            except asyncio.CancelledError:
                self._switch_off()
                raise
            except Exception as exc:  # any failure: off, empty, and subscribe again
                if cancel_requested():
                    # A cancellation redis-py turned into a TimeoutError (core/cancellation.py).
                    self._switch_off()
                    raise asyncio.CancelledError from exc
                was_on = self.enabled
                self._switch_off()
                failures += 1
                if was_on or failures == 1:
                    log.warning("near_cache.subscription_lost", channel=self.channel,
                                error_type=type(exc).__name__, retry_seconds=self.retry_seconds)
            finally:
                with contextlib.suppress(Exception):  # closing a dead connection is not an error
                    await pubsub.aclose()
            await asyncio.sleep(self.retry_seconds)

    async def _listen(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self.channel)
        pong_due: float | None = None
        next_ping = time.monotonic() + self.ping_interval
        while True:
            message = await pubsub.get_message(timeout=min(0.5, self.ping_interval))
            if cancel_requested():  # a cancellation redis-py's read swallowed (core/cancellation.py)
                raise asyncio.CancelledError
            now = time.monotonic()
            if message is not None:
                kind = message["type"]
                if kind == "subscribe":
                    # (Re)subscribed: whatever was published before this is unknown to us.
                    self._switch_off()
                    self.enabled = True
                    log.info("near_cache.subscribed", channel=self.channel)
                elif kind == "message":
                    self._heard(message["data"])
                elif kind == "pong":
                    pong_due = None
            if pong_due is not None and now > pong_due:
                raise TimeoutError(f"no PONG on the invalidation channel within {self.ping_timeout} s")
            if now >= next_ping:
                await pubsub.ping()
                if pong_due is None:
                    pong_due = now + self.ping_timeout
                next_ping = now + self.ping_interval
