"""The INFRA-006 retry policy without a network: what is retried, how long it waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from tenacity import RetryCallState

from backend.services.retry import (
    VendorRejected,
    VendorTransientError,
    VendorWait,
    parse_retry_after,
    with_retries,
)


def _state(error: BaseException, attempt: int) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_exponential_wait_is_scaled_between_2_and_30_seconds() -> None:
    wait = VendorWait(scale=1.0)
    error = VendorTransientError("claude", "HTTP 500", status=500)
    # tenacity: multiplier × 2^(attempt-1), clamped to [min, max] — 1→2 (min), 2, 4, …, 32→30 (max)
    assert [wait(_state(error, n)) for n in (1, 2, 3, 4, 6)] == [2.0, 2.0, 4.0, 8.0, 30.0]
    assert VendorWait(scale=0.001)(_state(error, 1)) == pytest.approx(0.002)


def test_rate_limit_waits_longer_and_at_least_retry_after() -> None:
    wait = VendorWait(scale=1.0)
    assert wait(_state(VendorTransientError("claude", "429", status=429), 1)) == 4.0
    assert wait(_state(VendorTransientError("claude", "429", status=429, retry_after=7), 1)) == 7.0
    tiny = VendorWait(scale=0.001)
    assert tiny(_state(VendorTransientError("claude", "429", status=429, retry_after=1), 1)) == 1.0


def test_parse_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=20), usegmt=True), now=now) == 20.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


async def _run(errors: list[BaseException | None], **kwargs: Any) -> tuple[Any, int]:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        error = errors[calls]
        calls += 1
        if error is not None:
            raise error
        return "ok"

    try:
        return await with_retries("claude", attempt, scale=0.0001, **kwargs), calls
    except Exception as error:
        return error, calls


async def test_at_most_three_attempts_for_transient_errors() -> None:
    down = VendorTransientError("claude", "HTTP 503", status=503)
    result, calls = await _run([down, down, down, None])
    assert isinstance(result, VendorTransientError) and calls == 3
    result, calls = await _run([down, down, None])
    assert result == "ok" and calls == 3


async def test_client_errors_are_never_retried() -> None:
    result, calls = await _run([VendorRejected("claude", "HTTP 401", status=401), None])
    assert isinstance(result, VendorRejected) and calls == 1


async def test_a_very_long_retry_after_is_not_waited_for_in_a_request() -> None:
    result, calls = await _run([VendorTransientError("claude", "429", status=429, retry_after=3600), None])
    assert isinstance(result, VendorTransientError) and calls == 1
