"""The in-process benches still run against the current app, on a tiny scale (their numbers are not checked).

`rate_limiter_cost.py` broke once without anyone noticing: the limiter came to need the request context
middleware outside it, and the bench built its app without one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stores import _REDIS_OK, IN_CI, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_url() -> str:
    if not _REDIS_OK:
        if IN_CI:
            pytest.fail(f"Redis is required when CI=true but {TEST_REDIS_URL!r} does not answer")
        pytest.skip("Redis is not reachable")
    return TEST_REDIS_URL


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_rate_limiter_cost_runs_every_variant(redis_url: str) -> None:
    out = _run("rate_limiter_cost.py", "--requests", "200", "--concurrency", "10", "--redis", redis_url)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "µs" in line]
    assert len(rows) == 4, out  # none, slowapi, ours on Redis, ours in process


def test_cache_speedup_runs_both_stores(redis_url: str) -> None:
    out = _run("cache_speedup.py", "--requests", "100", "--concurrency", "5", "--redis", redis_url)
    rows = [line for line in out.splitlines() if line.startswith("| /api/")]
    assert len(rows) == 4, out  # two routes × in-process and Redis
