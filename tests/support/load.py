"""Concurrent HTTP load for the chaos tests: every request's outcome recorded with its times.

A *plan* says what each load client asks next; :class:`Load` runs ``clients``
of them against a server until the ``async with`` block ends, while the test
breaks something inside the block:

    async with Load(server.base_url, plan, clients=24) as load:
        await asyncio.sleep(2)
        redis.stop()
        await asyncio.sleep(5)
    assert load.outcomes and not load.failures()

Nothing is hidden: a transport error, and a request that has no complete
answer within ``timeout`` seconds, are outcomes with ``status=None`` (a hang
is a failure, not a pause). Times are ``time.monotonic()``, so a test can
split the outcomes around the moment it broke something.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Call:
    """One request: ``label`` groups outcomes in reports (defaults to "METHOD path")."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.method} {self.path}"


@dataclass(frozen=True)
class Outcome:
    """What one request got: a response, or ``status=None`` and the error (transport error or timeout)."""

    label: str
    started: float
    finished: float
    status: int | None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        what = self.error if self.status is None else f"{self.status} {self.body[:300]!r}"
        return f"{self.label} → {what} (after {self.finished - self.started:.2f}s)"


async def send(client: httpx.AsyncClient, call: Call, *, timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Make ``call`` once; never raises for an HTTP or transport problem, it is recorded instead."""
    started = time.monotonic()
    try:
        # httpx's timeout is per read; this bounds the whole exchange, so a trickle counts as a hang too.
        async with asyncio.timeout(timeout):
            response = await client.request(call.method, call.path, headers=call.headers, json=call.json,
                                            files=call.files)
    except (httpx.HTTPError, TimeoutError) as error:
        kind = "timeout" if isinstance(error, TimeoutError | httpx.TimeoutException) else "transport error"
        return Outcome(call.name, started, time.monotonic(), None, error=f"{kind}: {type(error).__name__} {error}")
    return Outcome(call.name, started, time.monotonic(), response.status_code, response.headers, response.content)


def summary(outcomes: Iterable[Outcome]) -> str:
    """``{label: {status: count}}`` on one line per label, for assertion messages."""
    counts: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        counts.setdefault(outcome.label, Counter())[str(outcome.status or outcome.error)] += 1
    return "\n".join(f"  {label}: {dict(statuses)}" for label, statuses in sorted(counts.items()))


Plan = Callable[[int, int], Call]  # (client number, its request number) -> the next call


class Load:
    """``clients`` concurrent loops, each making the calls ``plan`` gives it, back to back, until stopped."""

    def __init__(self, base_url: str, plan: Plan, *, clients: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url
        self.plan = plan
        self.clients = clients
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self.started = 0.0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Load:
        # One keep-alive connection per load client, as a browser tab or an API consumer would hold.
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        self._client = httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=self.timeout)
        self.started = time.monotonic()
        self._tasks = [asyncio.create_task(self._loop(n), name=f"load-{n}") for n in range(self.clients)]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Let every client finish the request it is making (bounded by ``timeout``), then close."""
        self._stop.set()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    async def _loop(self, number: int) -> None:
        assert self._client is not None
        iteration = 0
        while not self._stop.is_set():
            self.outcomes.append(await send(self._client, self.plan(number, iteration), timeout=self.timeout))
            iteration += 1

    # -- reading the outcomes ------------------------------------------------------------------

    def failures(self, *, allowed: Callable[[Outcome], bool] | None = None) -> list[Outcome]:
        """Outcomes that are not 2xx (and not ``allowed``): errors, timeouts, 4xx, 5xx."""
        return [o for o in self.outcomes if not o.ok and not (allowed is not None and allowed(o))]

    def started_after(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment]

    def finished_before(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.finished < moment]

    def summary(self) -> str:
        return summary(self.outcomes)
