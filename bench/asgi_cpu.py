"""CPU per request, in process: the ASGI app called directly, no HTTP server, no client.

    .venv/bin/python bench/asgi_cpu.py                 # Redis at 127.0.0.1:6379 (db 13), SQLite in a temp dir
    .venv/bin/python bench/asgi_cpu.py --requests 20000 --profile /me   # + cProfile of one route

``load_http.py`` measures the §6 ratios through HTTP, where uvicorn, the kernel and wrk share two
CPUs with the app and the numbers drift by ±30 % between runs. This script measures only what the
app itself spends per request (``time.process_time()`` around a loop of direct ASGI calls), so a
change to the hot path shows up as a difference of a few microseconds, run after run. It is the tool
for working on the hot path; ``load.md`` stays the record of the bar.

Measured, one after the other in one process: a bare Starlette route, a bare FastAPI route
(``bench/bare_apps.py``), Quoted ``/health/live``, and ``GET /api/contractors/me`` with the contractor
cached — once with the Redis cache and Redis limiter (production), once with both in process.
Redis time is the client's CPU only: the server runs in another process.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REDIS_URL = "redis://127.0.0.1:6379/13"  # not the tests' db 15
JWT_SECRET = "asgi-cpu-bench-" + "x" * 40

Asgi = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]],
                 Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


def scope_for(path: str, token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: Asgi, path: str, token: str | None) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_for(path, token), receive, send)
    return status


async def cpu_per_request(app: Asgi, path: str, token: str | None, n: int) -> float:
    for _ in range(min(500, n)):  # warm caches, JIT-free but import/lazy paths
        status = await call(app, path, token)
    if status != 200:
        raise SystemExit(f"{path} answered {status}")
    started = time.process_time()
    for _ in range(n):
        await call(app, path, token)
    return (time.process_time() - started) / n * 1e6


async def quoted(env: dict[str, str]) -> tuple[Any, Any, str]:
    """A Quoted app with its lifespan running, and a registered contractor's access token."""
    os.environ.update(env)
    from backend.config import get_settings
    get_settings.cache_clear()
    from backend.main import create_app
    app = create_app()
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    import httpx
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.post("/api/auth/register", json={
            "email": f"cpu-{time.time_ns()}@example.com", "password": "correct horse battery 9",
            "business_name": "CPU Plumbing", "trade": "plumbing"})
        response.raise_for_status()
        token = response.json()["access_token"]
    return app, lifespan, token


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--profile", choices=["/me", "/health/live"], help="cProfile that Quoted route")
    parser.add_argument("--local", action="store_true", help="only the in-process cache and limiter")
    parser.add_argument("--log-level", default="INFO", help="WARNING drops the access line, to see its cost")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="asgi-cpu-")
    base_env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db", "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": args.log_level, "LOG_FORMAT": "json", "ENVIRONMENT": "development",
        "RATE_LIMIT_UNAUTHENTICATED": "1000000/minute", "RATE_LIMIT_AUTHENTICATED": "1000000/minute",
        "STORAGE_PATH": f"{tmp}/files",
    }
    import subprocess
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True,
                   env={**os.environ, **base_env}, capture_output=True)
    # The access log goes to a file, as in production behind a collector, not to this terminal.
    log_file = open(f"{tmp}/access.log", "w")  # noqa: SIM115 - open for the whole run
    os.dup2(log_file.fileno(), 2)

    from bench.bare_apps import fastapi_app, starlette_app
    n = args.requests
    results: dict[str, float] = {
        "bare Starlette": await cpu_per_request(starlette_app, "/api/contractors/me", None, n),
        "bare FastAPI": await cpu_per_request(fastapi_app, "/api/contractors/me", None, n),
    }
    variants = [("in process", {"REDIS_URL": ""})]
    if not args.local:
        variants.append(("Redis", {"REDIS_URL": REDIS_URL}))
    for label, extra in variants:
        app, lifespan, token = await quoted({**base_env, **extra})
        results[f"Quoted /health/live ({label})"] = await cpu_per_request(app, "/health/live", None, n)
        results[f"Quoted /me ({label} cache + limiter)"] = await cpu_per_request(
            app, "/api/contractors/me", token, n)
        if args.profile and label == variants[-1][0]:
            path = "/api/contractors/me" if args.profile == "/me" else "/health/live"
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                await call(app, path, token)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(35)
            stats.sort_stats("cumulative").print_stats(60)
        await lifespan.__aexit__(None, None, None)

    fastapi = results["bare FastAPI"]
    print(f"{'':48} {'CPU µs/request':>15} {'× FastAPI cost':>15}")
    for name, micros in results.items():
        print(f"{name:48} {micros:15.1f} {micros / fastapi:15.2f}")


if __name__ == "__main__":
    import uvloop  # what uvicorn's worker runs on in production (uvicorn picks it when installed)
    uvloop.run(main())
