"""The vendor breaker: what counts, transitions reported, one probe when half-open, cancellation neutral."""

from __future__ import annotations

import asyncio
import time

import pytest

from backend.core.errors import VendorUnavailable
from backend.services.circuit_breaker import BreakerRegistry, VendorBreaker, breaker_states, install
from backend.services.retry import VendorBadResponse, VendorRejected, VendorTransientError


def _breaker(threshold: int = 2, recovery: float = 0.2) -> tuple[VendorBreaker, list[tuple[str, str, str]]]:
    seen: list[tuple[str, str, str]] = []
    breaker = VendorBreaker("claude", failure_threshold=threshold, recovery_timeout=recovery,
                            listeners=[lambda *t: seen.append(t)])
    return breaker, seen


async def _fail(breaker: VendorBreaker, error: Exception) -> None:
    async def call() -> None:
        raise error

    with pytest.raises(type(error)):
        await breaker.guard(call)


async def test_transient_and_bad_answers_count_client_errors_do_not() -> None:
    breaker, seen = _breaker(threshold=2)
    await _fail(breaker, VendorRejected("claude", "HTTP 400", status=400))
    await _fail(breaker, VendorRejected("claude", "HTTP 422", status=422))
    assert breaker.current_state() == "closed" and breaker.failure_count == 0
    await _fail(breaker, VendorTransientError("claude", "HTTP 500", status=500))
    await _fail(breaker, VendorBadResponse("claude", "no tool call"))
    assert breaker.current_state() == "open"
    assert seen == [("claude", "closed", "open")]


async def test_open_breaker_answers_at_once_without_calling() -> None:
    breaker, _ = _breaker(threshold=1, recovery=30)
    await _fail(breaker, VendorTransientError("claude", "timeout"))
    called = False

    async def call() -> str:
        nonlocal called
        called = True
        return "ok"

    with pytest.raises(VendorUnavailable) as raised:
        await breaker.guard(call)
    assert not called
    assert raised.value.status_code == 503 and raised.value.code == "service_unavailable"
    assert 1 <= int(raised.value.headers["Retry-After"]) <= 30
    assert "claude" not in raised.value.message.lower()  # a sentence about the service, not the vendor


async def test_half_open_lets_one_probe_through_then_closes() -> None:
    breaker, seen = _breaker(threshold=1, recovery=0.1)
    await _fail(breaker, VendorTransientError("claude", "HTTP 503", status=503))
    await asyncio.sleep(0.15)
    gate = asyncio.Event()
    calls = 0

    async def slow_ok() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "ok"

    probe = asyncio.create_task(breaker.guard(slow_ok))
    await asyncio.sleep(0.01)
    with pytest.raises(VendorUnavailable):  # a second caller while the probe is in flight
        await breaker.guard(slow_ok)
    gate.set()
    assert await probe == "ok"
    assert calls == 1
    assert breaker.current_state() == "closed"
    assert seen == [("claude", "closed", "open"), ("claude", "open", "half_open"), ("claude", "half_open", "closed")]


async def test_failed_probe_opens_again() -> None:
    breaker, seen = _breaker(threshold=1, recovery=0.1)
    await _fail(breaker, VendorTransientError("claude", "HTTP 500", status=500))
    await asyncio.sleep(0.15)
    await _fail(breaker, VendorTransientError("claude", "HTTP 500", status=500))
    assert breaker.current_state() == "open"
    assert seen[-1] == ("claude", "half_open", "open")


async def test_cancellation_is_neither_success_nor_failure() -> None:
    breaker, _ = _breaker(threshold=2)
    await _fail(breaker, VendorTransientError("claude", "HTTP 500", status=500))

    async def hang() -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(breaker.guard(hang))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.failure_count == 1  # the library alone would have reset it to 0


def test_a_broken_listener_does_not_break_calls() -> None:
    registry = BreakerRegistry(failure_threshold=1, recovery_seconds=5)

    def boom(*_: str) -> None:
        raise RuntimeError("alert hook down")

    registry.add_listener(boom)
    breaker = registry["resend"]
    with pytest.raises(VendorTransientError):
        with breaker:
            raise VendorTransientError("resend", "HTTP 500", status=500)
    assert breaker.current_state() == "open"


def test_breaker_states_reports_every_vendor() -> None:
    registry = install(BreakerRegistry(failure_threshold=1, recovery_seconds=0.05))
    assert breaker_states() == dict.fromkeys(("claude", "openai", "stripe", "resend", "slack"), "closed")
    with pytest.raises(VendorTransientError):
        with registry["stripe"]:
            raise VendorTransientError("stripe", "HTTP 500", status=500)
    assert breaker_states()["stripe"] == "open"
    time.sleep(0.06)
    assert breaker_states()["stripe"] == "half_open"
