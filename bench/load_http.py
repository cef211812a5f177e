"""§6 / QA-002: Quoted under HTTP load — gunicorn + uvicorn workers on PostgreSQL and Redis, wrk on the same machine.

    .venv/bin/python bench/load_http.py                       # the recorded run (~12 min here)
    .venv/bin/python bench/load_http.py --quick               # a smoke run: short scenarios, 20k quotes

Every server is started the way production starts it (``gunicorn -c gunicorn.conf.py <app>``, the
uvicorn worker, WEB_CONCURRENCY workers, JSON request logs at INFO to a file) by
``tests/support/app_server.py``, and measured by ``wrk`` (Debian package) from the same machine.
Scenarios, in one run:

1. ``GET /api/contractors/me`` on Quoted — the normal route with every middleware and dependency:
   request id + logging + security headers, body limit, the rate limiter *counting* in Redis (limits
   raised through ``RATE_LIMIT_*`` so honest load never sees a 429; it is still one Redis round trip per
   request), JWT auth, the contractor from the Redis cache — against a bare Starlette JSON route and a
   bare FastAPI route returning the same dict (``bench/bare_apps.py``), same gunicorn config, same
   wrk script (it rotates over the bearer tokens of many contractors). Rounds alternate the three
   servers so drift on a noisy machine hits all of them; the median of the rounds is reported.
   ``/health/live`` and ``/me`` with the limiter switched off (``RATE_LIMIT_ENABLED=false``) too.
2. ``GET /api/pricing-brain/categories`` with the cache vs the same app whose cache always misses.
3. ``POST /api/quotes/generate`` through a fake Claude (``tests/fakes/anthropic.py``) answering at once.
4. 200 concurrent connections for 60 s over a mix of reads: status counts, timeouts (stalls), max latency.
5. ``GET /api/quotes`` at 1,000,000 quotes (seeded by ``seed_and_explain.py``): wrk numbers plus the
   server-side time of each request from the app's own request log (``duration_ms``).

A 429 or any other non-2xx counts as an error. Pools: WEB_CONCURRENCY × (DB_POOL_SIZE + DB_MAX_OVERFLOW)
× servers running at once is checked against PostgreSQL's ``max_connections`` before anything starts.
Results: ``bench/results/load.md`` and ``load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.core.security import create_access_token  # noqa: E402
from backend.services.cache_service import TOMBSTONE_SECONDS  # noqa: E402
from tests.fakes.anthropic import API_KEY as CLAUDE_KEY  # noqa: E402
from tests.fakes.anthropic import FakeAnthropic  # noqa: E402
from tests.support.app_server import AppServer  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
JWT_SECRET = "load-bench-secret-" + "x" * 40
HIGH = "1000000/minute"
DESCRIPTION = ("Replace the kitchen faucet with a new single-handle one the customer supplies, "
               "and fix the slow drain in the bathroom sink.")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# -- wrk ----------------------------------------------------------------------------------------------

LUA_DONE = r"""
done = function(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    if c then for k, v in pairs(c) do counts[tostring(k)] = (counts[tostring(k)] or 0) + v end end
  end
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%s":%d', k, v)) end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ",")))
end
"""


def lua_script(path: str, tokens: list[str], *, method: str = "GET", body: str | None = None,
               paths: list[str] | None = None, count_statuses: bool = False) -> str:
    """A wrk script that rotates over the tokens (and paths); counts statuses only when asked
    (a ``response`` callback costs the client CPU that, on two cores, the server would otherwise get)."""
    token_list = ",".join(json.dumps(t) for t in tokens) or '""'
    path_list = ",".join(json.dumps(p) for p in (paths or [path]))
    body_lua = json.dumps(body) if body is not None else "nil"
    script = f"""
local tokens = {{{token_list}}}
local paths = {{{path_list}}}
local body = {body_lua}
local i = 0
threads = {{}}
counts = {{}}
setup = function(thread) table.insert(threads, thread) end
init = function(args) i = math.random(1, #tokens) end
request = function()
  i = i + 1
  local headers = {{["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]}}
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format("{method}", paths[(i % #paths) + 1], headers, body)
end
"""
    if count_statuses:
        script += "response = function(status, headers, b) counts[status] = (counts[status] or 0) + 1 end\n"
    return script + LUA_DONE


def wrk(base_url: str, script: str, *, duration: float, connections: int, threads: int = 1,
        timeout: float = 10.0, spread_over: list[int] | None = None,
        on_start: Callable[[], None] | None = None) -> dict[str, Any]:
    """One wrk run; its summary, with ``rps`` and ``errors`` added.

    ``spread_over`` (the server's worker pids): start wrk again until its connections are spread over
    those workers, each holding at least three quarters of an even share. The workers share one
    listening socket and each accepts every connection pending when it wakes, so wrk's burst of
    connections often lands on one worker and the other idles for the whole run — a lottery that
    decided up to half of a server's rate (`bench/results/load_profile.md`, sixth round). wrk keeps
    its connections for the run, so the split seen at the start holds to the end. ``on_start`` is
    called just before each start (a CPU snapshot belongs to the run that is kept, not to restarts).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        script_path = handle.name
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{round(duration)}s", f"--timeout={round(timeout)}s",
               "-s", script_path, base_url]
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    restarts = 0
    split: list[int] = []
    try:
        while True:
            if on_start is not None:
                on_start()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if spread_over is None:
                break
            split = _connections_per_worker(port, spread_over, expected=connections)
            even = connections / len(spread_over)
            if min(split) >= 0.75 * even or restarts >= WRK_RESTARTS:
                break
            process.kill()
            process.communicate()
            restarts += 1
        stdout, stderr = process.communicate(timeout=duration + 120)
    finally:
        os.unlink(script_path)
    match = re.search(r"^WRKJSON (.*)$", stdout, re.M)
    if not match:
        raise RuntimeError(f"wrk gave no result ({process.returncode}):\n{stdout}\n{stderr}")
    data: dict[str, Any] = json.loads(match.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = (data["connect"] + data["read"] + data["write"] + data["status_errors"]
                      + data["timeouts"])
    if spread_over is not None:
        data["connections_per_worker"] = split
        data["wrk_restarts"] = restarts
    return data


WRK_RESTARTS = 30  # a balanced start came about one time in five in the sixth round's samples


def _connections_per_worker(port: int, pids: list[int], *, expected: int) -> list[int]:
    """How many of the connections to ``port`` each worker holds, once all ``expected`` are accepted
    (or after a second)."""
    deadline = time.monotonic() + 1.0
    while True:
        listed = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                                capture_output=True, text=True, check=False).stdout
        owners = [int(pid) for pid in re.findall(r"pid=(\d+)", listed)]
        split = [owners.count(pid) for pid in pids]
        if sum(split) >= expected or time.monotonic() > deadline:
            return split
        time.sleep(0.02)


# -- servers ------------------------------------------------------------------------------------------

def rss_mb(pids: list[int]) -> list[float]:
    sizes = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        if match:
            sizes.append(round(int(match.group(1)) / 1024, 1))
    return sizes


@contextmanager
def serving(env: dict[str, str], workers: int, app: str = "backend.main:app",
            started_event: str | None = "app.started") -> Iterator[AppServer]:
    server = AppServer(env, workers=workers, app=app, started_event=started_event)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def server_durations(server: AppServer, path: str, since: float) -> list[float]:
    """``duration_ms`` of every logged request for ``path`` after ``since`` (epoch seconds)."""
    found = []
    for event in server.events("request"):
        if event.get("path") != path:
            continue
        stamp = event.get("timestamp")
        if isinstance(stamp, str):
            try:
                if datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() < since:
                    continue
            except ValueError:
                pass
        duration = event.get("duration_ms")
        if isinstance(duration, int | float):
            found.append(float(duration))
    return found


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- database -------------------------------------------------------------------------------------------

async def _admin(sql: str) -> Any:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close()


def admin(sql: str) -> Any:
    return asyncio.run(_admin(sql))


def fresh_database(name: str) -> str:
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    migrate(url)
    return url


def migrate(url: str) -> None:
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url}, capture_output=True)


def register_contractors(base_url: str, count: int) -> list[str]:
    async def one(client: httpx.AsyncClient, n: int) -> str:
        response = await client.post("/api/auth/register", json={
            "email": f"load-{n}-{uuid.uuid4().hex[:6]}@example.com", "password": "load-bench-password-1",
            "business_name": f"Load Bench {n} Plumbing", "trade": "plumbing"})
        response.raise_for_status()
        return str(response.json()["access_token"])

    async def run() -> list[str]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            # A few at a time: argon2 hashing is deliberately slow.
            tokens = []
            for start in range(0, count, 4):
                tokens += await asyncio.gather(*(one(client, n) for n in range(start, min(count, start + 4))))
            return tokens

    return asyncio.run(run())


# -- scenarios ------------------------------------------------------------------------------------------

def summarise(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    rps = [r["rps"] for r in runs]
    middle = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    return {
        "scenario": name, "rps_median": statistics.median(rps), "rps_rounds": [round(x) for x in rps],
        "p50_ms": middle["p50_us"] / 1000, "p99_ms": middle["p99_us"] / 1000,
        "max_ms": max(r["max_us"] for r in runs) / 1000,
        "requests": sum(r["requests"] for r in runs), "errors": sum(r["errors"] for r in runs),
        "timeouts": sum(r["timeouts"] for r in runs),
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (``/proc/<pid>/stat``), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (after the command's closing paren)
    return total / os.sysconf("SC_CLK_TCK")


def redis_server_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def wrk_measured(base_url: str, script: str, *, duration: float, connections: int,
                 workers: list[int]) -> dict[str, Any]:
    """``wrk`` plus where the machine's CPU went: the server's workers, redis-server and wrk itself."""
    redis_pids = redis_server_pids()

    def snapshot() -> tuple[float, float, resource.struct_rusage]:
        return cpu_seconds(workers), cpu_seconds(redis_pids), resource.getrusage(resource.RUSAGE_CHILDREN)

    starts: list[tuple[float, float, resource.struct_rusage]] = []
    result = wrk(base_url, script, duration=duration, connections=connections, spread_over=workers,
                 on_start=lambda: starts.append(snapshot()))
    before, after = starts[-1], snapshot()
    per_request = 1e6 / max(1, result["requests"])
    result["cpu_us"] = {
        "workers": (after[0] - before[0]) * per_request,
        "redis": (after[1] - before[1]) * per_request,
        "wrk": ((after[2].ru_utime + after[2].ru_stime) - (before[2].ru_utime + before[2].ru_stime)) * per_request,
        "machine": (os.cpu_count() or 1) * 1e6 / result["rps"],  # every CPU's time, idle included
    }
    return result


def alternate(targets: list[tuple[str, str, str, list[int]]], rounds: int, duration: float, connections: int
              ) -> dict[str, dict[str, Any]]:
    """Run each (name, base_url, script, worker pids) once per round, in turn; a short warm-up first."""
    for _, base_url, script, _ in targets:
        wrk(base_url, script, duration=2, connections=connections)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _, _ in targets}
    for round_no in range(rounds):
        for name, base_url, script, workers in targets:
            result = wrk_measured(base_url, script, duration=duration, connections=connections, workers=workers)
            runs[name].append(result)
            log(f"  round {round_no + 1} {name}: {result['rps']:,.0f} req/s, p50 {result['p50_us'] / 1000:.2f} ms, "
                f"p99 {result['p99_us'] / 1000:.2f} ms, errors {result['errors']}, CPU µs per request: workers "
                f"{result['cpu_us']['workers']:.0f}, Redis {result['cpu_us']['redis']:.0f}, "
                f"wrk {result['cpu_us']['wrk']:.0f}; connections per worker {result['connections_per_worker']} "
                f"after {result['wrk_restarts']} restart(s)")
    summaries = {}
    for name, name_runs in runs.items():
        summary = summarise(name, name_runs)
        summary["cpu_us_per_request"] = {
            part: statistics.median(r["cpu_us"][part] for r in name_runs)
            for part in ("workers", "redis", "wrk", "machine")}
        summary["connections_per_worker"] = [r["connections_per_worker"] for r in name_runs]
        summary["wrk_restarts"] = sum(r["wrk_restarts"] for r in name_runs)
        summaries[name] = summary
    return summaries


def main() -> None:  # noqa: PLR0915 - one linear story, easier to read in one place
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY of every server")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--contractors", type=int, default=100,
                        help="tokens in rotation; more contractors, shorter moving-window lists in Redis")
    parser.add_argument("--c200-duration", type=float, default=60)
    parser.add_argument("--quotes", type=int, default=1_000_000, help="rows for the listing scenario; 0 skips it")
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--max-overflow", type=int, default=4)
    parser.add_argument("--redis-db", type=int, default=12, help="a Redis db index the bench may flush")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s scenarios, 1 round, 20k quotes")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--listing-only", action="store_true",
                        help="only scenario 5 (quote listing at --quotes); writes load_listing.md/.json")
    parser.add_argument("--keep-listing-db", action="store_true", help="keep scenario 5's seeded database")
    parser.add_argument("--reuse-listing-db", action="store_true",
                        help="scenario 5's database is already seeded (by --keep-listing-db): do not seed")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.c200_duration, args.contractors = 3, 1, 5, 8
        args.quotes = min(args.quotes, 20_000)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    max_connections = int(admin("SHOW max_connections")[0][0])
    per_server = args.workers * (args.pool_size + args.max_overflow)
    at_once = 3  # the Quoted servers alive together: normal, no-cache, limiter off
    if per_server * at_once + 10 > max_connections:
        sys.exit(f"pools do not fit: {at_once} servers × {per_server} > max_connections {max_connections} - 10")

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    claude = FakeAnthropic().start()
    database = "quoted_load"
    url = fresh_database(database)
    env = {
        "DATABASE_URL": url, "REDIS_URL": redis_url, "JWT_SECRET": JWT_SECRET,
        "ACCESS_TOKEN_MINUTES": "600", "DB_POOL_SIZE": str(args.pool_size),
        "DB_MAX_OVERFLOW": str(args.max_overflow), "DB_POOL_TIMEOUT": "30",
        "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_AUTHENTICATED": HIGH, "RATE_LIMIT_UNAUTHENTICATED": HIGH,
        "RATE_LIMIT_LOGIN": HIGH, "RATE_LIMIT_GENERATE": HIGH, "TRIAL_QUOTES": "100000",
        "ANTHROPIC_API_KEY": CLAUDE_KEY, "ANTHROPIC_BASE_URL": claude.url,
        "LOG_LEVEL": "INFO", "LOG_FORMAT": "json",
        # Worker recycling (max_requests, a leak guard) would restart the bare apps every few seconds
        # at their request rates and put restarts into every number; off for all servers alike.
        "GUNICORN_CMD_ARGS": "--max-requests 0",
    }
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                    "postgres_max_connections": max_connections, "wrk": _wrk_version()},
        "settings": {"workers": args.workers, "connections": args.connections, "duration_s": args.duration,
                     "rounds": args.rounds, "contractors": args.contractors, "db_pool_size": args.pool_size,
                     "db_max_overflow": args.max_overflow, "rate_limits": HIGH + " (limiter on, counting)"},
        "scenarios": {},
    }
    scenarios = report["scenarios"]
    try:
        if not args.listing_only:
            with serving(env, args.workers) as quoted, \
                    serving(env, args.workers, app="bench.bare_apps:nocache_app") as nocache, \
                    serving({**env, "RATE_LIMIT_ENABLED": "false"}, args.workers) as no_limiter, \
                    serving(env, args.workers, app="bench.bare_apps:starlette_app", started_event=None) as starlette, \
                    serving(env, args.workers, app="bench.bare_apps:fastapi_app", started_event=None) as fastapi:
                log(f"servers up; registering {args.contractors} contractors")
                tokens = register_contractors(quoted.base_url, args.contractors)
                # Registration leaves cache tombstones that refuse fills for a few seconds; past them,
                # every /me is the cache hit the scenario is about.
                time.sleep(TOMBSTONE_SECONDS + 1)
                me = lua_script("/api/contractors/me", tokens)

                log("scenario 1: GET /api/contractors/me vs bare FastAPI vs bare Starlette")
                scenarios.update(alternate([
                    ("starlette_bare", starlette.base_url, me, starlette.worker_pids()),
                    ("fastapi_bare", fastapi.base_url, me, fastapi.worker_pids()),
                    ("quoted_me", quoted.base_url, me, quoted.worker_pids()),
                    ("quoted_me_limiter_off", no_limiter.base_url, me, no_limiter.worker_pids()),
                    ("quoted_health_live", quoted.base_url, lua_script("/health/live", tokens), quoted.worker_pids()),
                ], args.rounds, args.duration, args.connections))

                log("scenario 2: pricing-brain listing, cache vs no cache")
                listing = lua_script("/api/pricing-brain/categories", tokens)
                scenarios.update(alternate([
                    ("pricing_cached", quoted.base_url, listing, quoted.worker_pids()),
                    ("pricing_uncached", nocache.base_url, listing, nocache.worker_pids()),
                ], args.rounds, args.duration, args.connections))

                log("scenario 3: quote generation through the fake Claude (zero latency)")
                generate = lua_script("/api/quotes/generate", tokens, method="POST",
                                      body=json.dumps({"description": DESCRIPTION}), count_statuses=True)
                claude_before = len(claude.calls())
                result = wrk(quoted.base_url, generate, duration=args.duration, connections=16)
                scenarios["generate_fake_claude"] = {
                    **summarise("generate_fake_claude", [result]), "statuses": result["statuses"],
                    "claude_calls": len(claude.calls()) - claude_before}
                log(f"  {result['rps']:,.0f} req/s, statuses {result['statuses']}")

                log(f"scenario 4: 200 concurrent connections for {args.c200_duration:.0f} s, mixed reads")
                mix = lua_script("", tokens, paths=["/api/contractors/me", "/api/pricing-brain/categories",
                                                    "/api/quotes", "/api/customers", "/api/quotes?status=draft"],
                                 count_statuses=True)
                result = wrk(quoted.base_url, mix, duration=args.c200_duration, connections=200, threads=2)
                scenarios["c200_mixed"] = {**summarise("c200_mixed", [result]), "statuses": result["statuses"],
                                           "duration_s": args.c200_duration}
                log(f"  {result['rps']:,.0f} req/s, statuses {result['statuses']}, timeouts {result['timeouts']}, "
                    f"max {result['max_us'] / 1000:.0f} ms")
                ready = httpx.get(quoted.url("/health/ready"), timeout=10)
                scenarios["c200_mixed"]["ready_after"] = ready.status_code

                report["rss_mb_per_worker"] = {
                    "quoted": rss_mb(quoted.worker_pids()), "quoted_nocache": rss_mb(nocache.worker_pids()),
                    "fastapi_bare": rss_mb(fastapi.worker_pids()), "starlette_bare": rss_mb(starlette.worker_pids()),
                }
                # Redis calls that timed out under load send the cache and limiter to their in-process
                # fallbacks for a few seconds, a pool timeout is a 503 (db.unavailable): count them.
                report["fallbacks"] = {
                    name: {event: [e.get("error_type", "?") for e in server.events(event)] for event in
                           ("cache.redis_unavailable", "rate_limit.redis_unavailable", "near_cache.subscription_lost",
                            "db.unavailable")}
                    for name, server in (("quoted", quoted), ("quoted_nocache", nocache), ("limiter_off", no_limiter))}
        if args.quotes:
            scenarios.update(listing_at_scale(args, env))
    finally:
        claude.stop()
        admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        redis.Redis.from_url(redis_url).flushdb()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "_listing" if args.listing_only else "_quick" if args.quick else ""
    (args.out_dir / f"load{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / f"load{suffix}.md").write_text(render(report))
    log(f"wrote {args.out_dir / f'load{suffix}.md'}")
    print(render(report))


def listing_at_scale(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Quote listing on a database seeded with ``args.quotes`` quotes, as the heaviest contractors."""
    name = "quoted_load_1m"
    contractors = max(100, args.quotes // 100)
    log(f"scenario 5: seeding {args.quotes:,} quotes over {contractors:,} contractors (seed_and_explain.py)")
    if not args.reuse_listing_db:
        subprocess.run([sys.executable, "bench/seed_and_explain.py", "--seed-only", "--db-name", name,
                        "--quotes", str(args.quotes), "--contractors", str(contractors)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        heaviest = asyncio.run(_heaviest(name, 50))
        tokens = [create_access_token(contractor_id=cid, token_version=0, key=JWT_SECRET,
                                      lifetime_seconds=36000) for cid, _ in heaviest]
        results: dict[str, Any] = {}
        with serving({**env, "DATABASE_URL": url}, args.workers) as server:
            for label, path in (("quotes_1m_list", "/api/quotes"), ("quotes_1m_list_sent", "/api/quotes?status=sent")):
                script = lua_script(path, tokens)
                wrk(server.base_url, script, duration=2, connections=16)
                # The warm-up's last requests are still queued in the workers when wrk stops (tens of
                # ms each, behind 15 others); they must not be counted as the one-at-a-time run's.
                time.sleep(1.0)
                # Server-side time is measured one request at a time (1 connection): under a
                # saturating load `duration_ms` is mostly time spent queued behind other requests.
                since = time.time()
                single = wrk(server.base_url, script, duration=args.duration, connections=1)
                time.sleep(0.5)  # let the log lines land
                durations = server_durations(server, "/api/quotes", since)
                loaded = wrk(server.base_url, script, duration=args.duration, connections=16)
                results[label] = {
                    **summarise(label, [loaded]), "server_p50_ms": percentile(durations, 50),
                    "server_p90_ms": percentile(durations, 90),
                    "server_p99_ms": percentile(durations, 99), "server_max_ms": max(durations),
                    "server_samples": len(durations),
                    "sequential_rps": single["rps"],
                    "response_bytes": round(single["bytes"] / max(1, single["requests"])),
                    "quotes_total": args.quotes, "heaviest_contractor_quotes": heaviest[0][1],
                    "contractors_in_rotation": len(heaviest),
                }
                log(f"  {label}: {loaded['rps']:,.0f} req/s at 16 connections; one at a time: server p50 "
                    f"{percentile(durations, 50):.2f} ms, p99 {percentile(durations, 99):.2f} ms, "
                    f"{results[label]['response_bytes']:,} bytes per page")
        return results
    finally:
        if not args.keep_listing_db:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _heaviest(database: str, count: int) -> list[tuple[uuid.UUID, int]]:
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        rows = await connection.fetch(
            "SELECT contractor_id, count(*) AS n FROM quotes GROUP BY 1 ORDER BY 2 DESC LIMIT $1", count)
        return [(row["contractor_id"], int(row["n"])) for row in rows]
    finally:
        await connection.close()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _wrk_version() -> str:
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).splitlines()[0] if (result.stdout or result.stderr) else "?"


# -- report ----------------------------------------------------------------------------------------------

def render(report: dict[str, Any]) -> str:
    s = report["scenarios"]
    lines = [
        "# HTTP load — Quoted under gunicorn + uvicorn on PostgreSQL and Redis (`bench/load_http.py`)",
        "",
        f"Run {report['date']} on {report['machine']['cpus']} × {report['machine']['cpu']}, Python "
        f"{report['machine']['python']}, {report['machine']['wrk']}; wrk on the same machine. "
        f"Every server: `gunicorn -c gunicorn.conf.py`, {report['settings']['workers']} uvicorn workers, "
        f"JSON request logs at INFO. wrk: {report['settings']['connections']} connections, "
        f"{report['settings']['duration_s']:.0f} s per run, {report['settings']['rounds']} alternating rounds "
        f"(median shown), bearer tokens of {report['settings']['contractors']} contractors in rotation. "
        f"Rate limits raised to {report['settings']['rate_limits']}. Pools: "
        f"{report['settings']['workers']} workers × ({report['settings']['db_pool_size']} + "
        f"{report['settings']['db_max_overflow']}) per server, PostgreSQL max_connections "
        f"{report['machine']['postgres_max_connections']}. In the alternating scenarios (the ratios) wrk is "
        f"started again until its connections are spread over the server's workers (each at least 3/4 of an "
        f"even share: the workers race to accept, and a burst of connections often went to one of them; "
        f"the split of every run is in the CPU table).",
        "",
        "| scenario | req/s (median) | rounds | p50 ms | p99 ms | max ms | requests | errors (non-2xx, 429 incl.) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for key, row in s.items():
        lines.append(f"| {key} | {row['rps_median']:,.0f} | {row['rps_rounds']} | {row['p50_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {row['max_ms']:.0f} | {row['requests']:,} | {row['errors']} |")

    def ratio(a: str, b: str) -> float:
        return float(s[a]["rps_median"] / s[b]["rps_median"]) if a in s and b in s else float("nan")

    def round_ratios(a: str, b: str) -> list[float]:
        # The same ratio per round (runs ~20 s apart): how much the machine itself drifted during the run.
        return [x / y for x, y in zip(s[a]["rps_rounds"], s[b]["rps_rounds"], strict=False) if y]

    me_fastapi, me_starlette = ratio("quoted_me", "fastapi_bare"), ratio("quoted_me", "starlette_bare")
    cache = ratio("pricing_cached", "pricing_uncached")
    lines += ["", "## The bars (SPEC §6)", "", "| bar | measured | holds |", "|---|---:|---|"]
    if "quoted_me" in s:  # absent from a --listing-only run
        lines += [
            f"| `/me` ≥ 0.5× bare FastAPI | {me_fastapi:.2f}× | {'yes' if me_fastapi >= 0.5 else '**no**'} |",
            f"| `/me` ≥ 0.25× bare Starlette | {me_starlette:.2f}× | {'yes' if me_starlette >= 0.25 else '**no**'} |",
            f"| (for reference) bare FastAPI / bare Starlette | {ratio('fastapi_bare', 'starlette_bare'):.2f}× | |",
            f"| (limiter's cost) `/me` limiter on / off | {ratio('quoted_me', 'quoted_me_limiter_off'):.2f}× | |",
            f"| (drift) `/me` ÷ bare FastAPI within each round | "
            f"{', '.join(f'{r:.2f}×' for r in round_ratios('quoted_me', 'fastapi_bare'))} | |",
            f"| pricing listing cached ≥ 1.5× uncached | {cache:.2f}× | {'yes' if cache >= 1.5 else '**no**'} |"]
    for key in ("quotes_1m_list", "quotes_1m_list_sent"):
        if key in s:
            row = s[key]
            lines.append(f"| `{key}` < 5 ms server-side ({row['quotes_total']:,} quotes, 50 heaviest contractors, "
                         f"the heaviest {row['heaviest_contractor_quotes']:,}; one request at a time, a page of 50 "
                         f"quotes = {row['response_bytes']:,} bytes) | p50 {row['server_p50_ms']:.2f} ms, "
                         f"p90 {row.get('server_p90_ms', float('nan')):.2f} ms, p99 "
                         f"{row['server_p99_ms']:.2f} ms, max {row.get('server_max_ms', float('nan')):.1f} ms "
                         f"({row['server_samples']:,} requests) | {'yes' if row['server_p99_ms'] < 5 else '**no**'} |")
    if "c200_mixed" in s:
        row = s["c200_mixed"]
        non2xx = sum(v for k, v in row["statuses"].items() if not k.startswith("2"))
        five = sum(v for k, v in row["statuses"].items() if k.startswith("5"))
        lines.append(f"| 200 concurrent, {row['duration_s']:.0f} s: zero 5xx, zero stalls | "
                     f"{row['requests']:,} requests, "
                     f"statuses {row['statuses']}, timeouts {row['timeouts']}, max {row['max_ms']:.0f} ms, "
                     f"/health/ready after: {row['ready_after']} | "
                     f"{'yes' if five == 0 and non2xx == 0 and row['timeouts'] == 0 else '**no**'} |")
    if "generate_fake_claude" in s:
        row = s["generate_fake_claude"]
        lines += ["", f"Quote generation through the fake Claude: {row['rps_median']:,.0f} req/s, p50 "
                  f"{row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, statuses {row['statuses']}, "
                  f"{row['claude_calls']:,} calls to the fake."]
    if "fallbacks" in report:
        lines += ["", "Redis fallbacks / lost subscriptions / pool timeouts logged during the run (their error "
                  f"types): {report['fallbacks']}"]
    measured = {key: row["cpu_us_per_request"] for key, row in s.items() if "cpu_us_per_request" in row}
    if measured:
        lines += ["", "CPU per request, µs (median of the rounds): the server's workers, redis-server and wrk from "
                  "their own CPU counters; \"machine\" is every CPU's time divided by the requests (2 CPUs ÷ "
                  "req/s), idle included — what the req/s ratios compare.", "",
                  "| scenario | workers | Redis | wrk | machine | connections per worker, each round "
                  "(wrk restarts) |", "|---|---:|---:|---:|---:|---|"]
        lines += [f"| {key} | {cpu['workers']:.0f} | {cpu['redis']:.0f} | {cpu['wrk']:.0f} | {cpu['machine']:.0f} "
                  f"| {s[key].get('connections_per_worker', '')} ({s[key].get('wrk_restarts', '')}) |"
                  for key, cpu in measured.items()]
    lines += ["", "Where the time goes and what was changed because of it: `load_profile.md`."]
    if "rss_mb_per_worker" in report:
        lines += ["", "RSS per worker after the run (MB): " + ", ".join(
            f"{k} {v}" for k, v in report["rss_mb_per_worker"].items())]
    lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
