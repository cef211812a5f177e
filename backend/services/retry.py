"""The vendor retry policy (INFRA-006), shared by every vendor module.

A vendor call is retried when the failure is transient — 429 (honouring
``retry-after``, with a longer wait), any 5xx, Anthropic's 529 "overloaded",
a refused or dropped connection, a timeout — and never for other 4xx (a 400
is our bug; asking again returns the same 400). Waits follow
``wait_exponential(multiplier=1, min=2, max=30)`` scaled by
``RETRY_BACKOFF_SCALE``; at most three attempts. Each retry is logged as
``vendor.retry`` with the attempt number, status and wait.

The vendor modules translate HTTP outcomes into the exceptions below, so this
module knows no vendor's URLs or error bodies. The circuit breaker
(``circuit_breaker.py``) wraps the *whole* retried call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from backend.core.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 3
# A retry-after longer than this is not worth holding a request or a worker for:
# give up now, and let the outbox try again later.
MAX_RETRY_AFTER_SECONDS = 30.0
# 429 waits twice as long as other transient failures: the vendor asked us to slow down.
RATE_LIMIT_WAIT_FACTOR = 2.0


class VendorError(Exception):
    """A vendor call that did not succeed. Internal: never rendered to a client as such."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor
        self.status = status
        self.detail = message


class VendorTransientError(VendorError):
    """429, 5xx, 529, a connection error or a timeout: worth retrying, counts against the breaker."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(vendor, message, status=status)
        self.retry_after = retry_after


class VendorRejected(VendorError):
    """A 4xx other than 429: our request is wrong. Never retried; not an outage, so the breaker ignores it."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None,
                 error_type: str | None = None) -> None:
        super().__init__(vendor, message, status=status)
        self.error_type = error_type


class VendorBadResponse(VendorError):
    """A 2xx whose body is not what the contract promised (e.g. an invalid tool call).

    Not retried at once (the caller's fallback — the outbox — asks again later),
    but it counts as a breaker failure: a vendor answering nonsense is not healthy.
    """


def is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``retry-after`` header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_for_status(vendor: str, response: httpx.Response, *, message: str,
                     error_type: str | None = None) -> VendorError:
    """The exception a non-2xx vendor response becomes (the vendor module supplies the message)."""
    status = response.status_code
    if is_transient_status(status):
        return VendorTransientError(vendor, message, status=status,
                                    retry_after=parse_retry_after(response.headers.get("retry-after")))
    return VendorRejected(vendor, message, status=status, error_type=error_type)


def error_for_transport(vendor: str, error: httpx.TransportError) -> VendorTransientError:
    """A connection refused or reset, a timeout, a broken response: transient."""
    kind = "timeout" if isinstance(error, httpx.TimeoutException) else "connection error"
    return VendorTransientError(vendor, f"{kind} ({type(error).__name__})")


def _should_retry(error: BaseException) -> bool:
    if not isinstance(error, VendorTransientError):
        return False
    # A vendor that asks for a long pause gets it from the outbox, not from a held request.
    return error.retry_after is None or error.retry_after <= MAX_RETRY_AFTER_SECONDS


class VendorWait:
    """``wait_exponential(1, min=2, max=30)`` × scale; 429 waits longer and at least ``retry-after``.

    ``retry-after`` is the vendor's instruction, so it is honoured as given
    (not scaled): with a tiny scale only the header explains the wait.
    """

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._exponential = wait_exponential(multiplier=1, min=2, max=30)

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self._exponential(retry_state)) * self.scale
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, VendorTransientError) and error.status == 429:
            wait *= RATE_LIMIT_WAIT_FACTOR
            if error.retry_after is not None:
                wait = max(wait, error.retry_after)
        return wait


def _log_retry(vendor: str) -> Callable[[RetryCallState], None]:
    def before_sleep(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "vendor.retry",
            vendor=vendor,
            attempt=retry_state.attempt_number,
            status=getattr(error, "status", None),
            error=getattr(error, "detail", type(error).__name__ if error else None),
            wait=round(retry_state.next_action.sleep if retry_state.next_action else 0.0, 3),
        )

    return before_sleep


async def with_retries(vendor: str, attempt: Callable[[], Awaitable[T]], *, scale: float,
                       max_attempts: int = MAX_ATTEMPTS) -> T:
    """Run ``attempt`` under the INFRA-006 policy; the last error is re-raised as is."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_should_retry),
        stop=stop_after_attempt(max_attempts),
        wait=VendorWait(scale),
        before_sleep=_log_retry(vendor),
        reraise=True,
    )
    async for attempt_state in retrying:
        with attempt_state:
            return await attempt()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
