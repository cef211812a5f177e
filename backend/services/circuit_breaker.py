"""Circuit breakers, one per vendor (INFRA-009).

Each vendor — claude, openai, stripe, resend, slack — has one
``circuitbreaker.CircuitBreaker`` that opens after ``BREAKER_FAILURE_THRESHOLD``
consecutive failures and lets a trial call through after
``BREAKER_RECOVERY_SECONDS``. It wraps the *whole* retried call: one breaker
failure is one call that still failed after its retries (``retry.py``).
Only transient failures count — 429/5xx/529, connection errors, timeouts and
answers that break the contract; a 4xx like 400 is our bug, not an outage, and
leaves the breaker alone (the library's ``expected_exception`` predicate).
While a breaker is open, callers get :class:`VendorUnavailable` (503) at once,
without calling the vendor.

**State is per worker process.** Every gunicorn worker (and every
``python -m backend.worker``) keeps its own breakers: with four workers, a
vendor outage opens four breakers, each after its own five failures. That is
deliberate — a shared breaker would need a Redis round trip on every vendor
call and would fail in the same outage it guards against — and costs at most
``workers × threshold`` extra failed calls per outage.

What the library does not do, this subclass adds (SPEC §2):

* **Transition listeners.** ``circuitbreaker`` has none; every transition is
  logged as ``breaker.state_change`` (vendor, old, new) and passed to the
  listeners registered with :meth:`BreakerRegistry.add_listener` (the alerting
  ticket plugs a warning alert into ``new == "open"``). Open → half-open is a
  matter of elapsed time, so it is noticed when the state is next read (the
  next call, or a health check).
* **One trial call when half-open.** The library lets every concurrent caller
  through once the recovery time is over; here the first caller is the probe
  and the others keep getting ``VendorUnavailable`` until it has answered.
* **Cancellation is neutral.** The library treats any exception that is not a
  failure as a success and closes the breaker; a cancelled call (client gone,
  shutdown) proves nothing either way, so it counts as neither.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Literal, TypeVar, cast

from circuitbreaker import STATE_CLOSED, STATE_HALF_OPEN, STATE_OPEN, CircuitBreaker

from backend.config import Settings
from backend.core.errors import VendorUnavailable
from backend.core.logging import get_logger
from backend.services.retry import VendorBadResponse, VendorTransientError

log = get_logger(__name__)

T = TypeVar("T")

Vendor = Literal["claude", "openai", "stripe", "resend", "slack"]
BreakerState = Literal["closed", "open", "half_open"]
VENDORS: tuple[Vendor, ...] = ("claude", "openai", "stripe", "resend", "slack")

# What the person using the app reads when a vendor is down: the service, not the vendor.
_SERVICE_NAMES: dict[str, str] = {
    "claude": "AI quote generation",
    "openai": "Audio transcription",
    "stripe": "Billing",
    "resend": "Email delivery",
    "slack": "Alerting",
}

StateListener = Callable[[str, str, str], None]  # (vendor, old, new)


def is_breaker_failure(exc_type: type[BaseException], exc: BaseException | None) -> bool:
    """The ``expected_exception`` predicate: only outages count, never our own 4xx."""
    return issubclass(exc_type, VendorTransientError | VendorBadResponse)


class VendorBreaker(CircuitBreaker):  # type: ignore[misc]
    """A ``CircuitBreaker`` that reports its transitions and admits one probe when half-open."""

    def __init__(self, vendor: str, *, failure_threshold: int, recovery_timeout: float,
                 listeners: list[StateListener] | None = None) -> None:
        super().__init__(failure_threshold=failure_threshold, recovery_timeout=recovery_timeout,
                         expected_exception=is_breaker_failure, name=f"vendor.{vendor}")
        self.vendor = vendor
        self._listeners = listeners if listeners is not None else []
        self._observed: str = STATE_CLOSED
        self._probe_in_flight = False

    # -- state -----------------------------------------------------------------------

    def current_state(self) -> BreakerState:
        """closed, open or half_open; notices (and reports) a transition since the last read."""
        state = cast(str, self.state)
        self._observe(state)
        return cast(BreakerState, state)

    def _observe(self, state: str) -> None:
        if state == self._observed:
            return
        old, self._observed = self._observed, state
        emit = log.info if state == STATE_CLOSED else log.warning
        emit("breaker.state_change", vendor=self.vendor, old=old, new=state, failures=self.failure_count)
        for listener in list(self._listeners):
            try:
                listener(self.vendor, old, state)
            except Exception:  # a broken alert hook must never break a vendor call
                log.exception("breaker.listener_failed", vendor=self.vendor)

    @property
    def retry_after_seconds(self) -> int:
        """Seconds until a trial call is allowed (at least 1), for ``Retry-After``."""
        return max(1, math.ceil(self.open_remaining))

    def unavailable(self) -> VendorUnavailable:
        service = _SERVICE_NAMES.get(self.vendor, "A service we depend on")
        seconds = self.retry_after_seconds
        return VendorUnavailable(
            f"{service} is temporarily unavailable; try again in about {seconds} seconds.",
            vendor=self.vendor, retry_after=seconds,
        )

    # -- calls ---------------------------------------------------------------------------

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]:
        if exc_type is not None and not issubclass(exc_type, Exception):
            return False  # cancelled or interrupted: neither a success nor a failure
        super().__exit__(exc_type, exc_value, traceback)  # counts the failure or resets; never swallows
        self._observe(cast(str, self.state))
        return False

    async def guard(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call`` (the whole retried vendor call) under the breaker.

        Raises :class:`VendorUnavailable` without calling when the breaker is
        open, or half-open with its one trial call already in flight.
        """
        state = self.current_state()
        probe = False
        if state == STATE_OPEN or (state == STATE_HALF_OPEN and self._probe_in_flight):
            log.info("breaker.rejected", vendor=self.vendor, state=state)
            raise self.unavailable()
        if state == STATE_HALF_OPEN:
            probe = self._probe_in_flight = True
        try:
            with self:
                return await call()
        finally:
            if probe:
                self._probe_in_flight = False


class BreakerRegistry:
    """The breakers of one process, one per vendor."""

    def __init__(self, *, failure_threshold: int = 5, recovery_seconds: float = 30.0) -> None:
        self._listeners: list[StateListener] = []
        self._breakers: dict[str, VendorBreaker] = {
            vendor: VendorBreaker(vendor, failure_threshold=failure_threshold, recovery_timeout=recovery_seconds,
                                  listeners=self._listeners)
            for vendor in VENDORS
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerRegistry:
        return cls(failure_threshold=settings.breaker_failure_threshold,
                   recovery_seconds=settings.breaker_recovery_seconds)

    def __getitem__(self, vendor: str) -> VendorBreaker:
        return self._breakers[vendor]

    def add_listener(self, listener: StateListener) -> None:
        """Called with (vendor, old, new) on every transition of any breaker (e.g. alert on "open")."""
        self._listeners.append(listener)

    def states(self) -> dict[str, BreakerState]:
        return {vendor: breaker.current_state() for vendor, breaker in self._breakers.items()}


# The process's registry: set by the app lifespan (or the standalone worker) at start-up.
_process_registry: BreakerRegistry | None = None


def install(registry: BreakerRegistry) -> BreakerRegistry:
    """Make ``registry`` the process's breakers (what :func:`breaker_states` reports)."""
    global _process_registry  # one registry per process, by design
    _process_registry = registry
    return registry


def breaker_states() -> dict[str, BreakerState]:
    """``{vendor: "closed"|"open"|"half_open"}`` for health checks; all closed before start-up."""
    if _process_registry is None:
        return dict.fromkeys(VENDORS, "closed")
    return _process_registry.states()
