"""INFRA-004 / SEC-003: the per-process near cache over real Redis pub/sub.

Each "process" here is a :class:`Cache` with its own near cache and subscriber task, as every
worker of every instance has. What must hold: an invalidation in one reaches the others within
milliseconds; a near cache whose subscription is lost (Redis killed, or hung so PINGs go
unanswered) stops serving and forgets everything, and comes back only once subscribed again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from backend.services.cache_service import NEAR_CACHED, Cache, redis_client
from backend.services.near_cache import NearCache
from tests.support.redis_server import PrivateRedis
from tests.support.stores import IN_CI, TEST_REDIS_URL, _redis_ok, drop_prefix

FAST = {"ping_interval": 0.2, "ping_timeout": 0.4, "retry_seconds": 0.1}


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``condition`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


class Process:
    """One worker's cache: a Redis client, a near cache and its subscriber task."""

    def __init__(self, url: str, prefix: str) -> None:
        self.near = NearCache(prefixes=NEAR_CACHED, channel=prefix + "invalidate", **FAST)
        self.cache = Cache(redis_client(url), prefix=prefix, near=self.near, failure_backoff=0.1)
        assert self.cache.redis is not None
        self.task = asyncio.create_task(self.near.run_forever(self.cache.redis))

    def fill(self, key: str, value: object) -> None:
        self.near.put(key, value, self.near.generation)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.cache.close()


@pytest.fixture
async def processes() -> AsyncIterator[Callable[[str], Awaitable[Process]]]:
    if not await _redis_ok(TEST_REDIS_URL):
        if IN_CI:
            pytest.fail(f"Redis is required when CI=true but {TEST_REDIS_URL!r} does not answer")
        pytest.skip("Redis is not reachable")
    prefix = f"quoted:test:{uuid.uuid4().hex[:10]}:"
    started: list[Process] = []

    async def start(url: str = TEST_REDIS_URL) -> Process:
        process = Process(url, prefix)
        started.append(process)
        await until(lambda: process.near.enabled)
        return process

    yield start
    for process in started:
        await process.close()
    await drop_prefix(TEST_REDIS_URL, prefix)


async def test_a_delete_in_one_process_empties_the_near_cache_of_every_other(
        processes: Callable[..., Awaitable[Process]]) -> None:
    a, b, c = [await processes() for _ in range(3)]
    for process in (a, b, c):
        process.fill("contractor:1", "old snapshot")
        process.fill("contractor:2", "other snapshot")
    deleting = asyncio.ensure_future(a.cache.delete("contractor:1"))
    await asyncio.sleep(0)  # the delete has started but not reached Redis yet
    assert a.near.get("contractor:1") is None, "the deleting process drops its copy before any await"
    await deleting
    for other in (b, c):
        await until(lambda other=other: other.near.get("contractor:1") is None, timeout=2)  # type: ignore[misc]
        assert other.near.get("contractor:2") == "other snapshot", "only the deleted key is dropped"
        assert other.near.enabled


async def test_set_and_pattern_invalidation_reach_other_processes(
        processes: Callable[..., Awaitable[Process]]) -> None:
    a, b = await processes(), await processes()
    b.fill("contractor:1", "old")
    await a.cache.set("contractor:1", {"new": True}, ttl=60)
    await until(lambda: b.near.get("contractor:1") is None, timeout=2)
    b.fill("contractor:2", "old")
    await a.cache.invalidate_pattern("contractor:*")
    await until(lambda: b.near.get("contractor:2") is None, timeout=2)


async def test_killing_redis_switches_the_near_cache_off_until_it_is_subscribed_again(
        processes: Callable[..., Awaitable[Process]]) -> None:
    server = PrivateRedis()
    server.start()
    try:
        process = await processes(server.url)
        process.fill("contractor:1", "snapshot")
        assert process.near.get("contractor:1") == "snapshot"
        server.stop()
        await until(lambda: not process.near.enabled, timeout=3)
        assert process.near.get("contractor:1") is None and process.near._entries == {}
        # Whatever was published while it was away is lost to it: it must come back empty.
        server.start()
        await until(lambda: process.near.enabled, timeout=5)
        assert process.near._entries == {}
        process.fill("contractor:1", "fresh")
        assert process.near.get("contractor:1") == "fresh"
    finally:
        server.stop()


async def test_a_hung_redis_is_noticed_by_the_unanswered_ping(
        processes: Callable[..., Awaitable[Process]]) -> None:
    server = PrivateRedis()
    server.start()
    assert server.process is not None
    try:
        process = await processes(server.url)
        process.fill("contractor:1", "snapshot")
        os.kill(server.process.pid, signal.SIGSTOP)  # the connection stays open; nothing answers
        try:
            waited = await until(lambda: not process.near.enabled, timeout=3)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert waited <= 3 and process.near._entries == {}
        await until(lambda: process.near.enabled, timeout=5)
    finally:
        server.stop()


async def test_a_fill_racing_a_remote_invalidation_is_refused(
        processes: Callable[..., Awaitable[Process]]) -> None:
    a, b = await processes(), await processes()
    generation = b.near.generation  # b starts a cache-aside read of contractor:1...
    await a.cache.delete("contractor:1")  # ...a writer elsewhere invalidates it meanwhile...
    await until(lambda: b.near.generation != generation, timeout=2)
    b.near.put("contractor:1", "read before the write", generation)  # ...b's read returns the old row
    assert b.near.get("contractor:1") is None
