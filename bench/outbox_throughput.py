"""§6: the outbox dispatcher's throughput with 1, 2 and 4 worker processes on one PostgreSQL.

    .venv/bin/python bench/outbox_throughput.py [--items 3000] [--workers 1,2,4] [--work-ms 0,20]

Each worker is the real ``backend.worker`` (``python -m tests.support.outbox_marker_worker``: the
product's worker plus a test-only ``test.marker`` kind whose handler optionally sleeps — standing in
for a vendor call — and then inserts one marker row in the transaction that marks the item done).
For each (work, workers) pair: a fresh outbox, the workers started and polling, ``--items`` items
enqueued in one transaction, then the time until every item is ``done``; the marker table proves
each item ran exactly once. Items/s = items / that time. Results: ``bench/results/outbox.md``.
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
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


async def admin(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def worker_env(url: str, tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "OPENAI", "RESEND", "OUTBOX"))}
    env.update({
        "DATABASE_URL": url, "ENVIRONMENT": "test", "JWT_SECRET": "outbox-bench-" + "x" * 40,
        "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING", "OUTBOX_POLL_SECONDS": "0.05",
        "DB_POOL_SIZE": "5", "DB_MAX_OVERFLOW": "5", "STORAGE_PATH": tmp, "REDIS_URL": "",
        "PYTHONPATH": str(ROOT),
    })
    return env


async def run_case(dsn: str, url: str, db_name: str, items: int, workers: int, work_ms: float,
                   tmp: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS outbox_marker (id VARCHAR(36) PRIMARY KEY, "
                           "item_id VARCHAR(36) NOT NULL, worker VARCHAR(128) NOT NULL)")
        await conn.execute("TRUNCATE outbox_marker; DELETE FROM outbox")
        for _ in range(workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "tests.support.outbox_marker_worker"],
                                          cwd=ROOT, env=worker_env(url, tmp),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while await conn.fetchval("SELECT count(DISTINCT pid) FROM pg_stat_activity WHERE datname = $1 "
                                  "AND application_name = 'quoted'", db_name) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not connect")
            await asyncio.sleep(0.1)
        # Enqueue exactly as outbox.enqueue does (one row per item), all in one transaction.
        now = datetime.now(UTC)
        rows = [(uuid.uuid4(), "test.marker", f'{{"sleep": {work_ms / 1000}}}', now) for _ in range(items)]
        started = time.perf_counter()
        await conn.executemany(
            "INSERT INTO outbox (id, kind, payload, status, attempts, next_attempt_at, created_at, updated_at) "
            "VALUES ($1, $2, $3::jsonb, 'pending', 0, $4, $4, $4)", rows)
        deadline = time.monotonic() + 600
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE status <> 'done'"):
            if time.monotonic() > deadline:
                raise RuntimeError("outbox did not drain in 10 minutes")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        markers = await conn.fetchval("SELECT count(*) FROM outbox_marker")
        distinct = await conn.fetchval("SELECT count(DISTINCT item_id) FROM outbox_marker")
        if markers != items or distinct != items:
            raise RuntimeError(f"exactly-once broken: {markers} markers, {distinct} distinct, {items} items")
        return {"items": items, "workers": workers, "work_ms": work_ms, "seconds": elapsed,
                "items_per_s": items / elapsed}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--work-ms", default="0,20")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "outbox.md")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="maintenance connection (the bench database is created next to it)")
    parser.add_argument("--db-name", default="quoted_outbox_bench")
    args = parser.parse_args()
    await admin(args.dsn, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    await admin(args.dsn, f'CREATE DATABASE "{args.db_name}"')
    server = make_url(args.dsn).set(database=args.db_name)
    dsn = server.render_as_string(hide_password=False)
    url = server.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url}, capture_output=True)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for work_ms in (float(x) for x in args.work_ms.split(",")):
                for workers in (int(x) for x in args.workers.split(",")):
                    result = await run_case(dsn, url, args.db_name, args.items, workers, work_ms, tmp)
                    log(f"work {work_ms:g} ms, {workers} worker(s): {result['items_per_s']:,.0f} items/s "
                        f"({result['seconds']:.1f} s for {args.items})")
                    results.append(result)
    finally:
        await admin(args.dsn, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    lines = [
        "# Outbox dispatcher throughput (`bench/outbox_throughput.py`)", "",
        f"Run {datetime.now(UTC).isoformat(timespec='seconds')} on {os.cpu_count()} CPUs, PostgreSQL on the same "
        f"machine. {args.items:,} items per case, claimed in batches of 10 with `FOR UPDATE SKIP LOCKED`, "
        "each finished in its own transaction with one marker row; every case checked exactly-once "
        "(one marker per item).", "",
        "| handler work | worker processes | seconds | items/s |", "|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['work_ms']:g} ms | {r['workers']:.0f} | {r['seconds']:.1f} | {r['items_per_s']:,.0f} |"
              for r in results]
    args.out.write_text("\n".join(lines) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
