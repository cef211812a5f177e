"""INFRA-004: pricing-brain listing (and GET /me) with a warm cache vs without a cache.

Drives the real app (``create_app``: all middleware, auth, the route) in process through
ASGI with N concurrent requests, on a freshly migrated database. "Without cache" swaps
in a cache that always misses, so the code path is the same minus the cache. Rate
limiting is off here (its cost is measured by ``rate_limiter_cost.py``).

    .venv/bin/python bench/cache_speedup.py [--database-url postgresql://postgres@127.0.0.1:5432/quoted_bench]
        [--redis redis://127.0.0.1:6379/15] [--requests 3000] [--concurrency 20]

Without ``--database-url`` a temporary SQLite file is used. The database given is migrated
with ``alembic upgrade head`` (it must exist and be disposable).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/<script>.py` from anywhere
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from backend.config import load_settings  # noqa: E402
from backend.main import create_app  # noqa: E402
from backend.services import cache_service  # noqa: E402
from backend.services.cache_service import Cache  # noqa: E402


class NoCache(Cache):
    async def get(self, key: str) -> Any | None:
        self.stats.misses += 1
        return None

    async def fill(self, key: str, value: Any, ttl: float) -> None:
        return None


async def measure(client: httpx.AsyncClient, path: str, headers: dict[str, str], requests: int,
                  concurrency: int) -> float:
    for _ in range(30):
        assert (await client.get(path, headers=headers)).status_code == 200
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def bench(database_url: str, redis_url: str, requests: int, concurrency: int) -> list[str]:
    settings = load_settings(environment="test", database_url=database_url, redis_url=redis_url,
                             rate_limit_enabled=False, log_level="WARNING", log_format="json",
                             jwt_secret="bench-secret-" + "x" * 40)
    app = create_app(settings)
    rows = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            reg = await client.post("/api/auth/register", json={
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com", "password": "bench-password-1",
                "business_name": "Bench Plumbing", "trade": "plumbing"})
            headers = {"Authorization": f"Bearer {reg.json()['access_token']}"}
            real_cache = app.state.cache
            for path in ("/api/pricing-brain/categories", "/api/contractors/me"):
                app.state.cache = real_cache
                warm = await measure(client, path, headers, requests, concurrency)
                app.state.cache = NoCache(prefix="quoted:bench-nocache:")
                cold = await measure(client, path, headers, requests, concurrency)
                rows.append(f"| {path} | {'Redis' if redis_url else 'in-process'} | {cold:,.0f} | {warm:,.0f} | "
                            f"**{warm / cold:.2f}×** |")
            app.state.cache = real_cache
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="quoted-bench-")
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url}, capture_output=True)
    tag = uuid.uuid4().hex[:8]
    cache_service.KEY_PREFIX = f"quoted:bench-{tag}:"
    print(f"database={url.split('@')[-1]} requests={args.requests} concurrency={args.concurrency}")
    print("| route | cache | without cache (req/s) | warm cache (req/s) | speed-up |")
    print("|---|---|---:|---:|---:|")
    for redis_url in ("", args.redis):
        for row in asyncio.run(bench(url, redis_url, args.requests, args.concurrency)):
            print(row)

    async def cleanup() -> None:
        client = cache_service.redis_client(args.redis, timeout=1)
        keys = [k async for k in client.scan_iter(match=f"quoted:bench-{tag}:*", count=500)]
        if keys:
            await client.unlink(*keys)
        await client.aclose()

    asyncio.run(cleanup())


if __name__ == "__main__":
    main()
