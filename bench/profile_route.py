"""Where a route's time goes: py-spy on one gunicorn worker while wrk drives that route.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_route.py /api/contractors/me            # fresh database, 8 contractors
    .venv/bin/python bench/profile_route.py /api/quotes --database quoted_prof100k
        # a database seeded by: bench/seed_and_explain.py --seed-only --db-name quoted_prof100k --quotes 100000
        #                                                  --contractors 1000   (tokens for its 20 heaviest)

One worker (so one process holds all the samples), the production gunicorn config, JSON request logs at
INFO, limits raised but counting, Redis db 11. Prints the inclusive and the self share of each function
(py-spy ``--format raw`` folded stacks, line numbers dropped); ``--out`` keeps the raw file, which
speedscope or flamegraph.pl can draw. This is how ``bench/results/load_profile.md`` was made.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import load_http as bench  # noqa: E402

from backend.core.security import create_access_token  # noqa: E402


def fold(path: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    skip = re.compile(r"gunicorn|runpy|threading|queue\.py")
    lines = [f"{total} samples", "== inclusive"]
    lines += [f"{100 * n / total:5.1f}% {f}" for f, n in inclusive.most_common() if not skip.search(f)][:top]
    lines += ["== self"] + [f"{100 * n / total:5.1f}% {f}" for f, n in own.most_common(25)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--database", help="an existing seeded database (else a fresh one with 8 contractors)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    fresh = args.database is None
    name = "quoted_profile" if fresh else args.database
    url = bench.fresh_database(name) if fresh else f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    env = {"DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:6379/11", "JWT_SECRET": bench.JWT_SECRET,
           "RATE_LIMIT_AUTHENTICATED": bench.HIGH, "RATE_LIMIT_UNAUTHENTICATED": bench.HIGH,
           "RATE_LIMIT_LOGIN": bench.HIGH, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "DB_POOL_SIZE": "8",
           "GUNICORN_CMD_ARGS": "--max-requests 0"}
    try:
        with bench.serving(env, 1) as server, tempfile.TemporaryDirectory() as tmp:
            if fresh:
                tokens = bench.register_contractors(server.base_url, 8)
                time.sleep(6)  # past the registration's cache tombstones
            else:
                heaviest = asyncio.run(bench._heaviest(name, 20))
                tokens = [create_access_token(contractor_id=cid, token_version=0, key=bench.JWT_SECRET,
                                              lifetime_seconds=3600) for cid, _ in heaviest]
            script = Path(tmp) / "route.lua"
            script.write_text(bench.lua_script(args.path, tokens))
            bench.wrk(server.base_url, script.read_text(), duration=2, connections=args.connections)
            load = subprocess.Popen(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds + 3}s", "-s",
                                     str(script), server.base_url], stdout=subprocess.PIPE, text=True)
            time.sleep(1)
            raw = args.out or Path(tmp) / "profile.txt"
            subprocess.run([py_spy, "record", "--pid", str(server.worker_pids()[0]), "--duration",
                            str(args.seconds), "--rate", "250", "--format", "raw", "--nonblocking", "-o", str(raw)],
                           check=True, capture_output=True)
            output = load.communicate()[0]
            print(next((line for line in output.splitlines() if line.startswith("Requests/sec")), ""))
            print(fold(raw, args.top))
    finally:
        if fresh:
            bench.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
