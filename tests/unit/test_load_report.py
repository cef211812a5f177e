"""bench/load_http.py's accounting and report (the HTTP run itself needs wrk and minutes: not here)."""

from __future__ import annotations

import os
import socket
import time

from bench.load_http import _connections_per_worker, cpu_seconds, render


def test_cpu_seconds_reads_this_process_and_grows_with_work() -> None:
    before = cpu_seconds([os.getpid()])
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert cpu_seconds([os.getpid()]) >= before + 0.02
    assert cpu_seconds([2**22 + 12345]) == 0  # a process that is gone counts nothing


def test_the_report_carries_the_ratios_and_where_the_cpu_went() -> None:
    def row(rps: float, workers: float, redis: float = 0.0) -> dict[str, object]:
        return {"rps_median": rps, "rps_rounds": [round(rps)], "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0,
                "requests": 1000, "errors": 0, "timeouts": 0,
                "cpu_us_per_request": {"workers": workers, "redis": redis, "wrk": 20.0, "machine": 2e6 / rps}}

    report = {
        "date": "2026-11-25T00:00:00+00:00",
        "machine": {"cpus": 2, "cpu": "test", "python": "3.11", "wrk": "wrk 4", "postgres_max_connections": 100},
        "settings": {"workers": 2, "connections": 32, "duration_s": 10, "rounds": 3, "contractors": 100,
                     "db_pool_size": 8, "db_max_overflow": 4, "rate_limits": "high"},
        "scenarios": {"starlette_bare": row(30000, 40), "fastapi_bare": row(16000, 90),
                      "quoted_me": row(8000, 200, 12), "quoted_me_limiter_off": row(9000, 190),
                      "pricing_cached": row(3000, 600), "pricing_uncached": row(700, 2000)},
    }
    text = render(report)
    assert "| `/me` ≥ 0.5× bare FastAPI | 0.50× | yes |" in text
    assert "| quoted_me | 200 | 12 | 20 | 250 |" in text
    assert "| (drift) `/me` ÷ bare FastAPI within each round | 0.50× | |" in text


def test_connections_per_worker_counts_the_accepted_connections_each_process_holds() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [server.accept()[0] for _ in clients]
        try:
            # Every accepted connection is this process's; a pid that holds none counts zero.
            assert _connections_per_worker(port, [os.getpid(), 2**22 + 12345], expected=3) == [3, 0]
        finally:
            for sock in clients + accepted:
                sock.close()
