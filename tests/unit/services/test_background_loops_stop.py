"""Background loops that log and carry on must still stop when cancelled (backend/core/cancellation.py).

The cancellation is made to arrive as a ``TimeoutError``, as redis-py's reads and Python 3.11's
``asyncio.wait_for`` can report it; a loop that swallowed it would keep the app's shutdown waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from backend.services.near_cache import NearCache


async def _assert_stops_when_cancelled(task: asyncio.Task[None], stop_swallowing: Callable[[], None]) -> None:
    """Cancel ``task``; it must end cancelled. If it keeps running, stop it for real before failing,
    or the event loop's own teardown would hang on it too."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    if task not in done:
        stop_swallowing()
        task.cancel()
        await asyncio.wait({task}, timeout=2)
        pytest.fail("the loop kept running after cancel()")
    assert task.cancelled()


class _TimeoutOnCancel:
    """A pub/sub whose read turns a cancellation into a TimeoutError, as redis-py's can."""

    swallow = True

    async def subscribe(self, channel: str) -> None:
        return None

    async def get_message(self, timeout: float) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            if not _TimeoutOnCancel.swallow:
                raise
            raise TimeoutError("Timeout reading from socket") from None

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _stop_swallowing() -> None:
    _TimeoutOnCancel.swallow = False  # only a failing test gets here; the fixture below resets it


@pytest.fixture(autouse=True)
def _swallowing() -> None:
    _TimeoutOnCancel.swallow = True


class _Redis:
    def pubsub(self) -> _TimeoutOnCancel:
        return _TimeoutOnCancel()


async def test_a_cancellation_reported_as_a_timeout_still_stops_the_subscriber() -> None:
    cache = NearCache(prefixes=("contractor:",), channel="test:invalidate", retry_seconds=0.01)
    task = asyncio.create_task(cache.run_forever(_Redis()))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    # Looping on after the "timeout" would leave the task running and the app's shutdown waiting on it.
    await _assert_stops_when_cancelled(task, _stop_swallowing)
    assert not cache.enabled


async def test_the_maintenance_loop_stops_when_a_cancellation_surfaces_as_a_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.services import maintenance

    async def purge(db: object) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise TimeoutError("the driver's timeout fired first") from None

    monkeypatch.setattr(maintenance, "purge_once", purge)
    task = asyncio.create_task(maintenance.run_forever(object(), interval=0.01))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    await _assert_stops_when_cancelled(
        task, lambda: monkeypatch.setattr(maintenance, "purge_once", lambda db: asyncio.sleep(0)))


class _NoneOnCancel(_TimeoutOnCancel):
    """A pub/sub whose read swallows the cancellation and reports "no message" (seen with redis-py)."""

    async def get_message(self, timeout: float) -> None:
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            if not _TimeoutOnCancel.swallow:
                raise
        return None


class _RedisSwallowing:
    def pubsub(self) -> _NoneOnCancel:
        return _NoneOnCancel()


async def test_a_cancellation_the_read_swallows_still_stops_the_subscriber() -> None:
    cache = NearCache(prefixes=("contractor:",), channel="test:invalidate", ping_interval=0.05, ping_timeout=30)
    task = asyncio.create_task(cache.run_forever(_RedisSwallowing()))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    await _assert_stops_when_cancelled(task, _stop_swallowing)
    assert not cache.enabled
