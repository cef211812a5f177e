"""INFRA-003: gunicorn with several uvicorn workers, started from gunicorn.conf.py.

Proven against a real gunicorn master serving ``tests.support.slow_app:app``
(the product app plus test-only slow routes) on a fresh, migrated PostgreSQL
database:

* a request that takes seconds does not delay others (neither one that awaits
  nor one that blocks its worker's event loop);
* SIGTERM to the master lets an in-flight request finish with 200, and the
  master exits 0 within ``graceful_timeout``;
* gunicorn.conf.py takes workers, port and trusted proxies from the settings,
  runs one worker on the embedded default, and refuses unsafe production
  settings with one line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import (
    ROOT,
    TEST_REDIS_URL,
    migrated_pg_database,
)
from tests.support.app_server import AppServer, AppServerError

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 4
BOOT_TIMEOUT = 40.0


def _gunicorn_config() -> dict[str, object]:
    """The values gunicorn.conf.py computes, read the way gunicorn reads them."""
    namespace: dict[str, object] = {"__file__": str(ROOT / "gunicorn.conf.py")}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with migrated_pg_database("quoted_workers", "the multi-worker tests need it (workers > 1)") as url:
        yield url


@pytest.fixture(scope="module")
def start_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Start gunicorn, or hand back the one already running (boots cost seconds on 2 cores).

    A test that stops its server (SIGTERM) leaves it dead, and the next call
    starts a fresh one. Every process group started is killed at the end.
    """
    log_dir = tmp_path_factory.mktemp("gunicorn")
    servers: list[AppServer] = []

    def start() -> AppServer:
        if servers and servers[-1].process is not None and servers[-1].process.poll() is None:
            return servers[-1]
        server = AppServer(
            {"DATABASE_URL": pg_url, "REDIS_URL": TEST_REDIS_URL,  # Redis: required for workers > 1
             "RATE_LIMIT_ENABLED": "false"},  # 50 unauthenticated requests in a burst are the point here
            workers=WORKERS, app="tests.support.slow_app:app", boot_timeout=BOOT_TIMEOUT, log_dir=log_dir,
        )
        servers.append(server)
        try:
            server.start()  # returns once every worker has run its lifespan start-up
        except AppServerError as error:
            pytest.fail(str(error))
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def test_config_runs_the_uvicorn_worker_without_preload() -> None:
    config = _gunicorn_config()
    assert config["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert config["preload_app"] is False
    assert config["accesslog"] is None
    assert config["graceful_timeout"] >= 10  # type: ignore[operator]
    assert config["max_requests"] > 0 and config["max_requests_jitter"] > 0  # type: ignore[operator]


def _print_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """gunicorn's own reading of gunicorn.conf.py.

    --print-config still loads the app, so a stdlib stand-in is named: of
    ours, only the settings are imported.
    """
    base = {k: v for k, v in os.environ.items()
            if k.upper() not in {"DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "PORT", "TRUSTED_PROXY_IPS",
                                 "ENVIRONMENT", "JWT_SECRET", "FORWARDED_ALLOW_IPS"}}
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config",
         "wsgiref.simple_server:demo_app"],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60,
    )


def _setting(output: str, name: str) -> str:
    for line in output.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    raise AssertionError(f"{name} not in gunicorn's config:\n{output}")


def test_config_reads_workers_port_and_proxies_from_settings() -> None:
    result = _print_config({
        "DATABASE_URL": "postgresql://u@127.0.0.1/db", "REDIS_URL": "redis://127.0.0.1:6379/15",
        "WEB_CONCURRENCY": "3", "PORT": "9123", "TRUSTED_PROXY_IPS": "10.1.2.3/8, 127.0.0.1",
    })
    assert result.returncode == 0, result.stderr
    assert _setting(result.stdout, "workers") == "3"
    assert _setting(result.stdout, "bind") == "['0.0.0.0:9123']"
    # A range written with host bits is normalised (gunicorn would refuse it, uvicorn never match it).
    assert _setting(result.stdout, "forwarded_allow_ips") == "['10.0.0.0/8', '127.0.0.1']"


def test_config_runs_one_worker_on_the_embedded_default() -> None:
    for env in ({"DATABASE_URL": "sqlite:///./data/x.db", "REDIS_URL": "redis://127.0.0.1:6379/15"},
                {"DATABASE_URL": "postgresql://u@127.0.0.1/db", "REDIS_URL": ""}):
        result = _print_config({**env, "WEB_CONCURRENCY": "4"})
        assert result.returncode == 0, result.stderr
        assert _setting(result.stdout, "workers") == "1", env


def test_config_refuses_unsafe_production_settings_in_one_line() -> None:
    result = _print_config({"ENVIRONMENT": "production", "DATABASE_URL": "postgresql://u@127.0.0.1/db",
                            "REDIS_URL": "redis://127.0.0.1:6379/15", "JWT_SECRET": "short"})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "JWT_SECRET" in lines[0] and "Traceback" not in result.stderr, result.stderr


async def test_slow_request_does_not_delay_others(start_server: object) -> None:
    server: AppServer = start_server()  # type: ignore[operator]
    assert len(server.worker_pids()) == WORKERS, server.log()[-3000:]

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20, limits=limits) as client:

        async def timed(path: str) -> tuple[httpx.Response, float]:
            response = await client.get(path)
            return response, time.perf_counter() - started

        started = time.perf_counter()
        # One request that awaits for 5 s, and one that blocks its worker's
        # whole event loop for 5 s: only the other workers can answer meanwhile.
        slow = asyncio.create_task(timed("/__test__/slow?seconds=5"))
        blocking = asyncio.create_task(timed("/__test__/slow?seconds=5&blocking=true"))
        await asyncio.sleep(0.4)  # both are in flight, one worker is blocked

        fast = await asyncio.gather(*(timed("/health/live") for _ in range(50)))
        (slow_response, slow_elapsed), (blocking_response, blocking_elapsed) = await asyncio.gather(slow, blocking)

    assert [r.status_code for r, _ in fast] == [200] * 50
    last_fast = max(elapsed for _, elapsed in fast)
    assert last_fast < 2.5, f"the last fast request finished {last_fast:.2f}s after the start"
    assert slow_response.status_code == 200 and blocking_response.status_code == 200
    assert slow_elapsed >= 5 and blocking_elapsed >= 5
    assert slow_response.json()["blocking"] is False and blocking_response.json()["blocking"] is True
    assert server.process.poll() is None, "gunicorn died during the test"


def test_every_worker_freezes_its_start_up_heap(start_server: object) -> None:
    """gunicorn.conf.py's post_worker_init runs backend/core/gc_tuning.py in each worker (§6 listing tail)."""
    server: AppServer = start_server()  # type: ignore[operator]
    tuned = server.events("gc.tuned")
    assert len(tuned) >= WORKERS, server.log()[-3000:]
    assert all(int(event["frozen_objects"]) > 50_000 for event in tuned), tuned  # type: ignore[call-overload]
    assert {event["gen0_threshold"] for event in tuned} == {20_000}


async def test_sigterm_lets_in_flight_request_finish(start_server: object) -> None:
    server: AppServer = start_server()  # type: ignore[operator]
    graceful_timeout = float(_gunicorn_config()["graceful_timeout"])  # type: ignore[arg-type]

    async with httpx.AsyncClient(base_url=server.base_url, timeout=20) as client:
        started = time.perf_counter()
        in_flight = asyncio.create_task(client.get("/__test__/slow?seconds=2"))
        await asyncio.sleep(0.5)  # the request has reached a worker
        assert not in_flight.done()
        os.kill(server.process.pid, signal.SIGTERM)
        sigterm_at = time.perf_counter()

        response = await in_flight
        finished = time.perf_counter() - started

    assert response.status_code == 200, response.text
    # asyncio.sleep may wake up to one clock tick early: the server's own measure is approximate.
    assert response.json()["slept"] >= 1.9
    assert finished >= 2

    remaining = graceful_timeout - (time.perf_counter() - sigterm_at)
    try:
        returncode = await asyncio.to_thread(server.process.wait, timeout=max(remaining, 0.1))
    except subprocess.TimeoutExpired:
        pytest.fail(f"gunicorn did not exit within graceful_timeout={graceful_timeout}s:\n{server.log()[-3000:]}")
    assert returncode == 0, server.log()[-3000:]
    shutdown_took = time.perf_counter() - sigterm_at
    assert shutdown_took < graceful_timeout
    # Workers went away through their lifespan shutdown (engines disposed), not killed.
    assert "app.stopped" in server.log()
