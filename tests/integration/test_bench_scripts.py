"""The benchmarks still run against the current schema (they are not in the suite's timings, but they rot).

`bench/seed_and_explain.py` broke once, silently, when a migration added columns its seed did not
know about; nothing ran it. These run the seeding, the outbox bench and the in-process CPU bench at toy sizes:
the seed's own model check (every model column present at head, no NULL in a NOT NULL column) and the
outbox bench's exactly-once check are the assertions, plus the files they write.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, _admin_dsn, _pg_execute, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_postgres("the benchmarks run on PostgreSQL only")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


async def test_the_seed_builds_a_database_the_current_models_can_read() -> None:
    name = f"quoted_seed_{uuid.uuid4().hex[:8]}"
    try:
        result = _run("bench/seed_and_explain.py", "--seed-only", "--dsn", _admin_dsn(), "--db-name", name,
                      "--quotes", "3000", "--contractors", "30")
        assert f"seeded {name} at alembic" in result.stdout
        assert "3,000 quotes" in result.stdout
    finally:
        await _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_outbox_bench_drains_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "outbox.md"
    _run("bench/outbox_throughput.py", "--dsn", _admin_dsn(), "--db-name", f"quoted_outbox_{uuid.uuid4().hex[:8]}",
         "--items", "60", "--workers", "1,2", "--work-ms", "0", "--out", str(out))
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 0 ms |")]
    assert len(rows) == 2  # one per worker count; the script itself fails on a lost or doubled item


def test_the_in_process_cpu_bench_measures_every_route() -> None:
    result = _run("bench/asgi_cpu.py", "--requests", "200")
    for row in ("bare Starlette", "bare FastAPI", "Quoted /health/live (Redis)", "Quoted /me (Redis cache + limiter)",
                "Quoted /me (in process cache + limiter)"):
        assert row in result.stdout, result.stdout


def test_the_listing_bench_compares_byte_identical_pages_and_reports_the_collector(tmp_path: Path) -> None:
    out = tmp_path / "listing.md"
    _run("bench/listing_cpu.py", "--quotes", "3000", "--contractors", "30", "--heaviest", "3", "--rounds", "1",
         "--db-name", f"quoted_listing_{uuid.uuid4().hex[:8]}", "--out", str(out))
    report = out.read_text()
    # The script itself stops on a body that differs from the previous handler's by one byte.
    assert "Every \"after\" body was byte-identical" in report
    assert "start-up heap frozen" in report and "Collections during the measured requests" in report
