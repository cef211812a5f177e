"""Alerting (INFRA-010): ``send_alert(severity, title, message, context)`` → Slack.

This module is the Slack vendor module: it alone knows the incoming-webhook
URL (``SLACK_WEBHOOK_URL``), its payload and its answers. Without a webhook
URL alerts are only logged (``alert.raised``).

**Never in the way of a request.** :meth:`Alerts.send_alert` is synchronous
and only puts the alert on a bounded in-process queue (full → dropped and
logged); one background task per process does the de-duplication and the
HTTP post, with short timeouts (1 s connect, 2 s read) and through the
``slack`` circuit breaker, and swallows every failure into a log line.

**De-duplication across workers.** Per title, within ``ALERT_DEDUPE_SECONDS``
(default 300): the first occurrence wins ``SET alert:<title> NX EX window`` in
Redis and is sent at once; later ones only ``INCR`` a counter. When the window
closes (a timer in the process that counted first) or when the next alert of
that title is allowed, the counter is taken with ``GETDEL`` (atomic: one
worker gets it) and sent as one summary, "N more since HH:MM". Without Redis,
or while it fails, the same logic runs on an in-process map (de-duplicated per
process only).

Triggers wired in ``backend.main``: an unhandled exception (500) → critical;
the share of 5xx responses above ``ERROR_RATE_THRESHOLD`` over
``ERROR_RATE_WINDOW_SECONDS`` (with at least ``ERROR_RATE_MIN_REQUESTS``) →
warning; readiness turning unavailable → critical (and back → info); a circuit
breaker opening → warning; an outbox item going dead → warning; keys due for
rotation at start-up → warning; ``POST /api/admin/alerts/test`` → info.

Escalation policy (also in docs/OPERATIONS.md):

* **critical** — the product is failing for users (500s, database down):
  the on-call engineer acknowledges within 15 minutes, day or night, and
  opens an incident in #incidents; unacknowledged after 30 minutes → the
  engineering lead is phoned.
* **warning** — degraded but serving (a vendor breaker open, error rate up,
  dead outbox items, keys due): looked at within the working day by whoever
  is on call; a warning that repeats for more than 2 hours is raised to
  critical by the on-call engineer.
* **info** — no action (tests of the channel, recoveries).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.config import Settings
from backend.core.cancellation import cancel_requested
from backend.core.errors import VendorUnavailable
from backend.core.logging import get_logger, redact_text
from backend.services.circuit_breaker import VendorBreaker
from backend.services.retry import VendorTransientError, error_for_status, error_for_transport

log = get_logger(__name__)

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")

QUEUE_SIZE = 200
SLACK_TIMEOUT = httpx.Timeout(2.0, connect=1.0)
KEY_PREFIX = "quoted:v1:alert:"
REDIS_BACKOFF_SECONDS = 5.0
ERROR_RATE_WINDOW_SECONDS = 60.0
ERROR_RATE_THRESHOLD = 0.10  # 10 % of responses are 5xx ...
ERROR_RATE_MIN_REQUESTS = 20  # ... out of at least this many in the window

# One round trip, atomic across workers: win the window (and take the previous window's
# count and its start), or count this occurrence (remembering when the window began).
_CLAIM_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GETDEL', KEYS[2]), redis.call('GETDEL', KEYS[3])}
end
local count = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if count == 1 then
  redis.call('SET', KEYS[3], redis.call('GET', KEYS[1]) or ARGV[1], 'PX', ARGV[3])
end
return {0, count, redis.call('PTTL', KEYS[1])}
"""

_COLORS = {"critical": "#d00000", "warning": "#f2c744", "info": "#439fe0"}
_EMOJI = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
_REDIS_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True)
class Alert:
    severity: Severity
    title: str
    message: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass
class _Job:
    kind: Literal["alert", "flush"]
    alert: Alert


def _clean_context(context: Mapping[str, Any] | None) -> dict[str, str]:
    # Context is free-form: stringify, shorten and scrub anything that looks like a secret.
    return {str(k)[:40]: redact_text(str(v))[:300] for k, v in (context or {}).items()}


def slack_payload(alert: Alert, *, environment: str) -> dict[str, Any]:
    """The incoming-webhook body: ``text`` (notifications, fallbacks) plus a coloured attachment."""
    headline = f"{_EMOJI[alert.severity]} [{alert.severity.upper()}] {alert.title}"
    fields = [{"type": "mrkdwn", "text": f"*severity*\n{alert.severity}"},
              {"type": "mrkdwn", "text": f"*environment*\n{environment}"}]
    fields += [{"type": "mrkdwn", "text": f"*{key}*\n{value}"} for key, value in list(alert.context.items())[:8]]
    return {
        "text": f"{headline}: {alert.message}",
        "attachments": [{
            "color": _COLORS[alert.severity],
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{alert.message}"}},
                {"type": "section", "fields": fields},
            ],
        }],
    }


class _MemoryDedupe:
    """The in-process fallback: ``{key: (expires_at, value)}`` with the same operations as Redis."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, str]] = {}

    def _get(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None or entry[0] <= time.monotonic():
            self._data.pop(key, None)
            return None
        return entry[1]

    def set_nx(self, key: str, value: str, ttl: float) -> bool:
        if self._get(key) is not None:
            return False
        if len(self._data) > 10_000:
            self._data.clear()  # a runaway of distinct titles: forget rather than grow
        self._data[key] = (time.monotonic() + ttl, value)
        return True

    def get(self, key: str) -> str | None:
        return self._get(key)

    def incr(self, key: str, ttl: float) -> int:
        count = int(self._get(key) or 0) + 1
        self._data[key] = (time.monotonic() + ttl, str(count))
        return count

    def getdel(self, key: str) -> str | None:
        value = self._get(key)
        self._data.pop(key, None)
        return value

    def ttl(self, key: str) -> float:
        entry = self._data.get(key)
        return max(0.0, entry[0] - time.monotonic()) if entry else 0.0


class ResponseCounts:
    """Responses and 5xx over the last ``window`` seconds, counted per second.

    O(1) per response and at most ``window + 1`` buckets, whatever the request rate: a deque entry per
    response held ~150,000 entries per busy worker and summed them all on every 5xx, which is when
    it hurts most (an outage).
    """

    def __init__(self, window: float) -> None:
        self.window = int(window)
        self._buckets: collections.deque[list[int]] = collections.deque()  # [second, responses, errors]
        self.total = 0
        self.errors = 0

    def observe(self, failed: bool, now: float) -> tuple[int, int]:
        """Count one response at ``now`` (monotonic seconds); the totals over the window, this one included."""
        second = int(now)
        buckets = self._buckets
        while buckets and buckets[0][0] <= second - self.window:
            _, responses, errors = buckets.popleft()
            self.total -= responses
            self.errors -= errors
        if not buckets or buckets[-1][0] != second:
            buckets.append([second, 0, 0])
        bucket = buckets[-1]
        bucket[1] += 1
        self.total += 1
        if failed:
            bucket[2] += 1
            self.errors += 1
        return self.total, self.errors

    def __len__(self) -> int:
        return len(self._buckets)


class Alerts:
    """One per process: the queue, the sender task, the de-duplication and the triggers' state."""

    def __init__(self, *, webhook_url: str | None, environment: str = "development",
                 window_seconds: float = 300.0, queue_size: int = QUEUE_SIZE) -> None:
        self.webhook_url = webhook_url
        self.environment = environment
        self.window_seconds = window_seconds
        self.redis: Redis | None = None
        self.breaker: VendorBreaker | None = None
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._memory = _MemoryDedupe()
        self._redis_down_until = 0.0
        self._flush_scheduled: set[str] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self.sent: list[Alert] = []  # what reached Slack (or the log), newest last; bounded
        # Error-rate trigger and readiness transitions (per process).
        self._responses = ResponseCounts(ERROR_RATE_WINDOW_SECONDS)
        self._ready_status = "ok"

    @classmethod
    def from_settings(cls, settings: Settings) -> Alerts:
        url = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else None
        return cls(webhook_url=url, environment=settings.environment,
                   window_seconds=settings.alert_dedupe_seconds)

    # -- life cycle ------------------------------------------------------------------

    def start(self, *, redis: Redis | None, breaker: VendorBreaker | None) -> None:
        """Start the sender task (in the app lifespan); alerts raised before are queued."""
        self.redis = redis
        self.breaker = breaker
        if self.webhook_url:
            self._http = httpx.AsyncClient(timeout=SLACK_TIMEOUT, follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="quoted.alerts")

    async def aclose(self, *, grace_seconds: float = 2.0) -> None:
        """Send what is queued (up to ``grace_seconds``), then stop."""
        for timer in self._timers:
            timer.cancel()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._queue.join(), timeout=grace_seconds)
            except TimeoutError:
                log.warning("alert.shutdown_dropped", queued=self._queue.qsize())
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def drain(self, seconds: float = 5.0) -> None:
        """Wait until the queue is empty (tests)."""
        await asyncio.wait_for(self._queue.join(), timeout=seconds)

    # -- the public call ----------------------------------------------------------------

    def send_alert(self, severity: Severity, title: str, message: str,
                   context: Mapping[str, Any] | None = None) -> bool:
        """Queue an alert; never blocks, never raises. False when the queue was full (dropped)."""
        if severity not in SEVERITIES:
            severity = "warning"
        alert = Alert(severity, title[:150], message[:2000], _clean_context(context))
        try:
            self._queue.put_nowait(_Job("alert", alert))
        except asyncio.QueueFull:
            log.warning("alert.queue_full", severity=severity, title=alert.title)
            return False
        return True

    # -- triggers ------------------------------------------------------------------------

    def request_finished(self, *, status: int, method: str, path: str, request_id: str,
                         error_type: str | None) -> None:
        """The request middleware's hook: an unhandled exception is critical; every status feeds the error rate."""
        if error_type is not None:
            self.send_alert("critical", f"Unhandled {error_type} on {method} {path}",
                            "A request failed with a 500; the traceback is in the logs under its request id.",
                            {"request_id": request_id, "path": path, "error": error_type})
        self.observe_response(status)

    def observe_response(self, status: int) -> None:
        """Error-rate trigger: called once per response (O(1): per-second counts)."""
        failed = status >= 500
        total, errors = self._responses.observe(failed, time.monotonic())
        if not failed or total < ERROR_RATE_MIN_REQUESTS:
            return
        if errors / total > ERROR_RATE_THRESHOLD:
            self.send_alert("warning", "High error rate",
                            f"{errors} of the last {total} responses were 5xx within "
                            f"{int(ERROR_RATE_WINDOW_SECONDS)} s (threshold {ERROR_RATE_THRESHOLD:.0%}).",
                            {"errors": errors, "requests": total})

    def on_breaker_change(self, vendor: str, old: str, new: str) -> None:
        """The ``BreakerRegistry`` listener: an opening is a warning."""
        if new == "open" and vendor != "slack":  # Slack down: the alert could not be delivered anyway
            self.send_alert("warning", f"Circuit breaker open: {vendor}",
                            f"Calls to {vendor} failed repeatedly; they are refused until a trial call succeeds.",
                            {"vendor": vendor, "previous_state": old})
        elif new == "open":
            log.warning("alert.slack_breaker_open")

    def on_readiness(self, status: str, down: list[str]) -> None:
        """Readiness result (``ok``/``degraded``/``unavailable``): alert on the transitions only."""
        previous, self._ready_status = self._ready_status, status
        if status == previous:
            return
        if status == "unavailable":
            self.send_alert("critical", "Readiness failing",
                            "/health/ready answers 503: " + ", ".join(down) + " down.",
                            {"down": ", ".join(down)})
        elif previous == "unavailable":
            self.send_alert("info", "Readiness recovered", f"/health/ready answers 200 ({status}).",
                            {"status": status})

    def on_outbox_dead(self, *, kind: str, item_id: str, error: str) -> None:
        self.send_alert("warning", f"Outbox item dead: {kind}",
                        "An outbox item used up its attempts (or failed permanently) and will not be retried.",
                        {"kind": kind, "item_id": item_id, "error": error})

    # -- the sender task ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                if job.kind == "alert":
                    await self._handle_alert(job.alert)
                else:
                    await self._flush(job.alert)
            except Exception as exc:  # alerting must never die on one bad alert
                if cancel_requested():  # ...but must stop when told to (core/cancellation.py)
                    raise asyncio.CancelledError from exc
                log.exception("alert.failed", title=job.alert.title)
            finally:
                self._queue.task_done()

    def _keys(self, title: str) -> tuple[str, str]:
        digest = hashlib.sha256(title.encode()).hexdigest()[:32]
        return f"{KEY_PREFIX}{digest}", f"{KEY_PREFIX}{digest}:count"

    async def _handle_alert(self, alert: Alert) -> None:
        first, earlier = await self._claim(alert)
        if not first:
            log.info("alert.deduplicated", severity=alert.severity, title=alert.title)
            return
        if earlier is not None:  # the previous window's stragglers, before the new occurrence
            await self._deliver(self._summary(alert, earlier))
        await self._deliver(alert)

    async def _claim(self, alert: Alert) -> tuple[bool, tuple[int, str] | None]:
        """(send it now?, (count, since) of an earlier window still to summarise)."""
        window_key, count_key = self._keys(alert.title)
        started = datetime.now(UTC).strftime("%H:%M")
        ttl_ms = int(self.window_seconds * 1000)
        redis = self._live_redis()
        if redis is not None:
            try:
                first, count, extra = await redis.eval(  # nosec B307 - a Redis Lua script, not Python's eval
                    _CLAIM_SCRIPT, 3, window_key, count_key, count_key + ":since", started, ttl_ms, ttl_ms * 10)
                if first:
                    taken = _parse_count(count)
                    return True, (taken, _text(extra) or "?") if taken is not None else None
                if int(count) == 1:  # the first one held back: flush at the window's end
                    self._schedule_flush(alert, max(int(extra), 0) / 1000)
                return False, None
            except _REDIS_FAILURES as exc:
                self._redis_failed(exc)
        memory = self._memory
        if memory.set_nx(window_key, started, self.window_seconds):
            return True, self._take_memory_count(count_key)
        if memory.incr(count_key, self.window_seconds * 10) == 1:
            memory.set_nx(count_key + ":since", memory.get(window_key) or started, self.window_seconds * 10)
            self._schedule_flush(alert, memory.ttl(window_key))
        return False, None

    @staticmethod
    async def _take_count(redis: Redis, count_key: str) -> tuple[int, str] | None:
        # GETDEL is atomic: of all the workers, exactly one takes a non-zero count.
        count = _parse_count(await redis.getdel(count_key))
        if count is None:
            return None
        return count, _text(await redis.getdel(count_key + ":since")) or "?"

    def _take_memory_count(self, count_key: str) -> tuple[int, str] | None:
        count = _parse_count(self._memory.getdel(count_key))
        if count is None:
            return None
        return count, self._memory.getdel(count_key + ":since") or "?"

    def _schedule_flush(self, alert: Alert, delay: float) -> None:
        if alert.title in self._flush_scheduled:
            return
        self._flush_scheduled.add(alert.title)

        def enqueue() -> None:
            self._timers.discard(timer)
            self._flush_scheduled.discard(alert.title)
            try:
                self._queue.put_nowait(_Job("flush", alert))
            except asyncio.QueueFull:
                log.warning("alert.queue_full", title=alert.title)

        timer = asyncio.get_running_loop().call_later(delay + 0.05, enqueue)
        self._timers.add(timer)

    async def _flush(self, alert: Alert) -> None:
        """The window closed: send the count of what it held back, unless another worker took it."""
        _, count_key = self._keys(alert.title)
        taken: tuple[int, str] | None = None
        redis = self._live_redis()
        if redis is not None:
            try:
                taken = await self._take_count(redis, count_key)
            except _REDIS_FAILURES as exc:
                self._redis_failed(exc)
        if taken is None:
            taken = self._take_memory_count(count_key)
        if taken is not None:
            await self._deliver(self._summary(alert, taken))

    def _redis_failed(self, exc: BaseException) -> None:
        self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
        log.warning("alert.redis_unavailable", error_type=type(exc).__name__)

    def _summary(self, alert: Alert, taken: tuple[int, str]) -> Alert:
        count, since = taken
        return Alert(alert.severity, alert.title,
                     f"{count} more since {since} (UTC) — same title, not sent one by one. Last: {alert.message}",
                     {**alert.context, "count": str(count)})

    def _live_redis(self) -> Redis | None:
        if self.redis is None or time.monotonic() < self._redis_down_until:
            return None
        return self.redis

    # -- Slack -----------------------------------------------------------------------------

    async def _deliver(self, alert: Alert) -> None:
        self.sent.append(alert)
        del self.sent[:-100]
        emit = log.info if alert.severity == "info" else log.warning
        emit("alert.raised", severity=alert.severity, title=alert.title, message=alert.message, **{
            f"ctx_{k}": v for k, v in alert.context.items()})
        if self._http is None or not self.webhook_url:
            return
        try:
            if self.breaker is not None:
                await self.breaker.guard(lambda: self._post(alert))
            else:
                await self._post(alert)
            log.info("alert.delivered", severity=alert.severity, title=alert.title)
        except VendorUnavailable:
            log.warning("alert.not_delivered", reason="slack_breaker_open", title=alert.title)
        except Exception as exc:  # noqa: BLE001 - a failed alert is logged, never raised
            log.warning("alert.not_delivered", reason=type(exc).__name__, title=alert.title)

    async def _post(self, alert: Alert) -> None:
        if self._http is None or not self.webhook_url:
            return
        try:
            response = await self._http.post(self.webhook_url,
                                             json=slack_payload(alert, environment=self.environment))
        except httpx.TransportError as exc:
            raise error_for_transport("slack", exc) from None
        if response.status_code >= 300:
            raise error_for_status("slack", response, message=f"webhook answered {response.status_code}")
        if response.text.strip() != "ok":
            raise VendorTransientError("slack", "webhook did not answer ok")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_count(value: Any) -> int | None:
    text = _text(value)
    try:
        count = int(text or 0)
    except ValueError:
        return None
    return count if count > 0 else None
