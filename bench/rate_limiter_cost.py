"""SEC-004: what the rate limiter costs per request — slowapi (sync storage) vs ours.

Drives one tiny FastAPI route through its ASGI stack in process (no sockets, so
HTTP parsing does not hide the difference) with N concurrent requests, four ways, each
inside the request context middleware as in the app:

* ``none`` — no limiter (baseline);
* ``slowapi`` — slowapi 0.1.10's pure-ASGI ``SlowAPIASGIMiddleware``, ``application_limits``,
  moving window, Redis storage: its storage calls are synchronous, so each Redis round
  trip blocks the event loop;
* ours — ``backend.api.middleware.RateLimitMiddleware`` over
  ``backend.services.rate_limit.RateLimiter``: the moving-window Lua script over the multiplexed
  Redis connection (one round trip, shared writes), the same budget; and its in-process fallback
  (``limits.aio`` memory storage, what runs when ``REDIS_URL`` is empty or Redis is down).

Budgets are raised to 10,000,000/minute so nothing is refused (the cost measured is the
counting, not 429s). Redis keys go under a per-run prefix on db 15 and are removed after.

    .venv/bin/python bench/rate_limiter_cost.py [--requests 4000] [--concurrency 50] [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/<script>.py` from anywhere
    sys.path.insert(0, str(ROOT))

from fastapi import FastAPI, Request  # noqa: E402

from backend.api.middleware import RateLimitMiddleware  # noqa: E402
from backend.config import load_settings  # noqa: E402
from backend.core.logging import configure_logging  # noqa: E402
from backend.core.middleware import RequestContextMiddleware  # noqa: E402
from backend.services import rate_limit  # noqa: E402
from backend.services.cache_service import redis_client  # noqa: E402

BIG = "10000000/minute"


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/ping")
    async def ping(request: Request) -> dict[str, str]:
        return {"ok": "yes"}

    return app


def slowapi_app(redis_url: str, prefix: str) -> FastAPI:
    from slowapi import Limiter, _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded
    from slowapi.middleware import SlowAPIASGIMiddleware

    app = bare_app()
    limiter = Limiter(key_func=lambda request: "bench-key", application_limits=[BIG], storage_uri=redis_url,
                      strategy="moving-window", headers_enabled=True, key_prefix=prefix)
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
    app.add_middleware(SlowAPIASGIMiddleware)
    return served(app)


def ours_app(redis_url: str) -> tuple[FastAPI, rate_limit.RateLimiter]:
    settings = load_settings(environment="test", redis_url=redis_url, rate_limit_authenticated=BIG,
                             rate_limit_unauthenticated=BIG, log_level="WARNING")
    limiter = rate_limit.RateLimiter(settings)
    app = bare_app()
    app.add_middleware(RateLimitMiddleware, limiter=limiter, settings=settings)
    return served(app), limiter


def served(app: FastAPI) -> FastAPI:
    """Outermost, as in the app: the request context middleware (request id, security headers, and the
    ``X-RateLimit-*`` headers our limiter hands it). Every variant gets it, so the rows differ only by the
    limiter; its access line is below the WARNING level set in ``main``."""
    app.add_middleware(RequestContextMiddleware)
    return app


async def call(app: Any, path: str = "/api/ping") -> tuple[int, float, dict[bytes, bytes]]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench")], "client": ("198.51.100.1", 5000), "server": ("bench", 80)}
    status = 0
    headers: dict[bytes, bytes] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = dict(message["headers"])

    started = time.perf_counter()
    await app(scope, receive, send)
    return status, time.perf_counter() - started, headers


async def run(app: Any, requests: int, concurrency: int) -> dict[str, float]:
    for _ in range(50):  # warm-up (connections, scripts, imports)
        await call(app)
    latencies: list[float] = []
    statuses: list[int] = []
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            status, elapsed, _ = await call(app)
            statuses.append(status)
            latencies.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    assert set(statuses) == {200}, set(statuses)
    latencies.sort()
    return {"rps": requests / wall, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}


async def serial_cost(app: Any, n: int = 2000) -> float:
    """Median time of one request with nothing else running (µs): the per-request cost."""
    for _ in range(50):
        await call(app)
    samples = [(await call(app))[1] for _ in range(n)]
    return statistics.median(samples) * 1e6


class DelayProxy:
    """A TCP proxy to Redis that adds a fixed delay each way, to model a Redis across a network."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target, self.delay, self.port = target, delay, 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        asyncio.ensure_future(self._pipe(reader, up_writer))
        asyncio.ensure_future(self._pipe(up_reader, writer))


def proxy_thread(target: tuple[str, int], delay: float) -> int:
    """Run the proxy on its own event loop in a thread (the slowapi client blocks the main loop)."""
    import threading

    ready = threading.Event()
    proxy = DelayProxy(target, delay)

    def serve() -> None:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(proxy.start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(5)
    return proxy.port


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--added-latency-ms", type=float, default=0.0,
                        help="delay each direction of every Redis packet (a Redis across a network)")
    args = parser.parse_args()
    configure_logging(log_format="json", level="WARNING")  # as in production, minus the access lines
    if args.added_latency_ms:
        from urllib.parse import urlparse

        target = urlparse(args.redis)
        port = proxy_thread((target.hostname or "127.0.0.1", target.port or 6379), args.added_latency_ms / 1000)
        args.redis = f"redis://127.0.0.1:{port}{target.path}"

    tag = f"bench-{uuid.uuid4().hex[:8]}"
    rate_limit.KEY_PREFIX = f"quoted:{tag}:rl"
    variants: dict[str, Any] = {"none": served(bare_app())}
    variants["slowapi (sync redis)"] = slowapi_app(args.redis, f"quoted:{tag}:slowapi")
    ours_redis, limiter_redis = ours_app(args.redis)
    variants["ours: Lua script on the multiplexed Redis connection"] = ours_redis
    ours_memory, _ = ours_app("")
    variants["ours: in-process fallback (limits.aio memory)"] = ours_memory

    results: dict[str, dict[str, float]] = {}
    for name, app in variants.items():
        serial = await serial_cost(app)
        stats = await run(app, args.requests, args.concurrency)
        stats["serial_us"] = serial
        results[name] = stats

    base = results["none"]
    print(f"requests={args.requests} concurrency={args.concurrency} added Redis latency="
          f"{args.added_latency_ms} ms each way")
    print("| variant | p50 of one request alone | p50 cost vs none | req/s at concurrency | throughput vs none |")
    print("|---|---:|---:|---:|---:|")
    for name, s in results.items():
        print(f"| {name} | {s['serial_us']:.0f} µs | {s['serial_us'] - base['serial_us']:+.0f} µs | "
              f"{s['rps']:,.0f} | {s['rps'] / base['rps']:.2f}× |")

    client = redis_client(args.redis, timeout=1)
    keys = [k async for k in client.scan_iter(match=f"*{tag}*", count=1000)]
    if keys:
        await client.unlink(*keys)
    await client.aclose()
    await limiter_redis.close()


if __name__ == "__main__":
    asyncio.run(main())
