"""§6: quote listing server-side time at scale, one request at a time, in process — before vs after.

    .venv/bin/python bench/listing_cpu.py                                   # 100,000 quotes, 1,000 contractors
    .venv/bin/python bench/listing_cpu.py --quotes 1000000 --contractors 10000 --append
    .venv/bin/python bench/listing_cpu.py --reuse --db-name NAME --keep     # an already seeded database

1. Seeds a PostgreSQL database with ``seed_and_explain.py --seed-only`` (unless ``--reuse``), which gives
   every sent/viewed/accepted/rejected quote an email delivery (every third a second, newer one), so
   ``last_delivery`` is exercised.
2. Builds the real app (``create_app``: every middleware, JWT auth, the contractor cache, the session
   dependency) on that database, lifespan entered, driven through ``httpx.ASGITransport``. Two routes side
   by side: ``/api/quotes`` as the app serves it now ("after"), and ``/bench/quotes-orm``, the previous
   handler verbatim ("before": ORM rows with the ``selectin`` load of deliveries, ``QuoteOut.model_validate``
   per quote, FastAPI's ``response_model`` serialization).
3. For the ``--heaviest`` contractors (bearer tokens minted with the bench's JWT secret), four listings: the
   first page, ``?status=sent``, page 2 through ``next_cursor``, and ``?customer_id=`` (the contractor's
   busiest customer). ``--rounds`` rounds, each request one at a time, before and after alternating.
   Server-side time is the app's own ``duration_ms`` from its ``request`` log line (first middleware to the
   last byte), captured by a logging handler. Every "after" body must equal its "before" body byte for byte,
   or the run fails. ``GET /api/contractors/me`` (no database) is timed alongside as the machine's floor.
4. Writes ``bench/results/listing.md`` (``--out``; ``--append`` adds a section to it) and drops the database
   unless ``--keep``.

Rate limiting is off and the contractor cache is in process (no Redis): this measures the listing, not the
limiter (``rate_limiter_cost.py``) or Redis round trips. The outbox dispatcher's poll is slowed to once an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi import APIRouter, Query  # noqa: E402

from backend.api.deps import DEFAULT_LIMIT, CurrentContractor, PageCursor, PageLimit, SessionDep  # noqa: E402
from backend.config import load_settings  # noqa: E402
from backend.core.gc_tuning import tune_for_serving  # noqa: E402
from backend.core.logging import add_line_listener, remove_line_listener  # noqa: E402
from backend.core.security import create_access_token  # noqa: E402
from backend.main import create_app  # noqa: E402
from backend.models import Quote  # noqa: E402
from backend.schemas.common import Page  # noqa: E402
from backend.schemas.documents import QuoteOut, QuoteStatus  # noqa: E402
from backend.services.queries import keyset_page, owned  # noqa: E402

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
JWT_SECRET = "listing-bench-secret-" + "x" * 40
LEGACY_PATH = "/bench/quotes-orm"
SCENARIOS = ("first page", "status=sent", "page 2 (cursor)", "customer_id")
TITLE = ("# Quote listing, server-side, one request at a time (`bench/listing_cpu.py`)\n\n"
         "SPEC §6: quote listing stays under 5 ms server-side at 1,000,000 quotes. See the docstring of "
         "`bench/listing_cpu.py` for the method; one section per run.\n\n")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# -- the previous handler, verbatim (quote_service.list_quotes + api/quotes.list_quotes before) ----------

legacy = APIRouter()


@legacy.get(LEGACY_PATH, response_model=Page[QuoteOut])
async def list_quotes_orm(
    contractor: CurrentContractor, session: SessionDep,
    limit: PageLimit = DEFAULT_LIMIT, cursor: PageCursor = None,
    status_: Annotated[QuoteStatus | None, Query(alias="status")] = None,
    customer_id: uuid.UUID | None = None,
) -> Page[QuoteOut]:
    stmt = owned(Quote, contractor.id)
    if status_ is not None:
        stmt = stmt.where(Quote.status == status_)
    if customer_id is not None:
        stmt = stmt.where(Quote.customer_id == customer_id)
    rows, next_cursor = await keyset_page(session, stmt, Quote, limit=limit, cursor=cursor)
    return Page[QuoteOut](items=[QuoteOut.model_validate(r) for r in rows], next_cursor=next_cursor)


# -- database --------------------------------------------------------------------------------------------

async def admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def prepare(name: str, heaviest: int) -> list[dict[str, Any]]:
    """The measured contractors, each with a customer to filter on."""
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        rows = await connection.fetch(
            "SELECT contractor_id, count(*) AS n FROM quotes GROUP BY 1 ORDER BY 2 DESC LIMIT $1", heaviest)
        ids = [row["contractor_id"] for row in rows]
        # seed_and_explain.py writes the deliveries (DELIVERIES_SQL): the newest-delivery join must have rows.
        if not await connection.fetchval("SELECT count(*) FROM email_deliveries WHERE contractor_id = ANY($1)", ids):
            raise SystemExit(f"{name} has no email deliveries: it was seeded by an older seed_and_explain.py; "
                             "seed it again (drop --reuse)")
        out = []
        for row in rows:
            customer = await connection.fetchval(
                "SELECT customer_id FROM quotes WHERE contractor_id = $1 AND customer_id IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", row["contractor_id"])
            out.append({"id": row["contractor_id"], "quotes": int(row["n"]), "customer_id": customer})
        return out
    finally:
        await connection.close()


# -- measuring -------------------------------------------------------------------------------------------

class RequestLog:
    """Keeps ``duration_ms`` of the app's ``request`` log lines (a line listener: the JSON the app writes)."""

    def __init__(self) -> None:
        self.last: float | None = None

    def __call__(self, _level: str, line: str) -> None:
        if '"event":"request"' in line:
            self.last = float(json.loads(line)["duration_ms"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class CollectorPauses:
    """Every garbage collection's generation and duration, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = defaultdict(list)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._started) * 1000)

    def summary(self) -> str:
        return "; ".join(f"generation {g}: {len(p):,} collections, longest {max(p):.2f} ms, total {sum(p):.0f} ms"
                         for g, p in sorted(self.pauses.items())) or "no collection"


async def measure(database_url: str, contractors: list[dict[str, Any]], rounds: int,
                  gc_mode: str = "serving") -> dict[str, Any]:
    settings = load_settings(environment="test", database_url=database_url, redis_url="",
                             rate_limit_enabled=False, log_level="INFO", log_format="json",
                             jwt_secret=JWT_SECRET, outbox_poll_seconds=3600, db_pool_size=4)
    app = create_app(settings)
    app.include_router(legacy)
    # Before the static frontend mounted at "/", which would answer the path otherwise.
    app.router.routes.insert(0, app.router.routes.pop())
    requests_log = RequestLog()
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_quoted", False):
            handler.setLevel(logging.WARNING)  # keep the JSON lines off the terminal
    add_line_listener(requests_log)
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, list[int]] = defaultdict(list)
    collector = CollectorPauses()
    async with app.router.lifespan_context(app):
        if gc_mode == "serving":  # what gunicorn.conf.py's post_worker_init does in every worker
            tune_for_serving()
        gc.callbacks.append(collector)
        transport = httpx.ASGITransport(app=app, client=("198.51.100.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            targets = []
            for contractor in contractors:
                token = create_access_token(contractor_id=contractor["id"], token_version=0, key=JWT_SECRET,
                                            lifetime_seconds=36000)
                headers = {"Authorization": f"Bearer {token}"}
                first = await client.get("/api/quotes", headers=headers)
                first.raise_for_status()
                params: dict[str, dict[str, str]] = {
                    "first page": {}, "status=sent": {"status": "sent"},
                    "page 2 (cursor)": {"cursor": first.json()["next_cursor"]},
                    "customer_id": {"customer_id": str(contractor["customer_id"])},
                }
                targets += [(scenario, headers, params[scenario]) for scenario in SCENARIOS]
            for n in range(rounds + 1):  # round 0 warms up (first reads of the heap pages, caches)
                variants = ("before", "after") if n % 2 else ("after", "before")
                for scenario, headers, query in targets:
                    bodies = {}
                    for variant in variants:
                        path = LEGACY_PATH if variant == "before" else "/api/quotes"
                        requests_log.last = None
                        started = time.process_time()
                        response = await client.get(path, params=query, headers=headers)
                        spent = time.process_time() - started
                        if response.status_code != 200 or requests_log.last is None:
                            raise SystemExit(f"{path} {query}: {response.status_code} {response.text[:300]}")
                        bodies[variant] = response.content
                        if n:
                            times[(variant, scenario)].append(requests_log.last)
                            cpu[variant].append(spent * 1000)
                            sizes[scenario].append(len(response.content))
                    if bodies["before"] != bodies["after"]:
                        raise SystemExit(f"/api/quotes {query}: the body differs from the previous handler's")
                    # The floor on this machine right now: an authenticated route without the database.
                    requests_log.last = None
                    (await client.get("/api/contractors/me", headers=headers)).raise_for_status()
                    if n and requests_log.last is not None:
                        times[("floor", "me")].append(requests_log.last)
    remove_line_listener(requests_log)
    gc.callbacks.remove(collector)
    return {"times": times, "sizes": sizes, "cpu": cpu, "load": os.getloadavg(), "gc": collector.summary(),
            "gc_mode": gc_mode}


# -- report ----------------------------------------------------------------------------------------------

GC_MODES = {
    "serving": "`gc_tuning.tune_for_serving()` (start-up heap frozen, generation-0 threshold 20,000), as in "
               "every gunicorn worker",
    "default": "CPython's defaults (thresholds 700/10/10, nothing frozen)",
}


def render(args: argparse.Namespace, contractors: list[dict[str, Any]], result: dict[str, Any],
           seconds: float) -> str:
    times, sizes = result["times"], result["sizes"]
    every = {v: [t for (variant, _), ts in times.items() if variant == v for t in ts] for v in ("before", "after")}
    lines = [
        f"## {args.quotes:,} quotes",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}),"
        f" Python {platform.python_version()}, PostgreSQL on 127.0.0.1. Database seeded by "
        f"`seed_and_explain.py --seed-only --quotes {args.quotes} --contractors {args.contractors}`"
        + (" (reused)" if args.reuse else "") + f"; the {len(contractors)} heaviest contractors "
        f"({contractors[0]['quotes']:,} to {contractors[-1]['quotes']:,} quotes each), every quote that went "
        "out with one or two email deliveries. The real app in process (`create_app`, lifespan entered, httpx "
        "ASGITransport); rate limiting off, contractor cache in process. Time = the app's own `duration_ms` "
        f"(first middleware to last byte). {args.rounds} rounds after one warm-up round, before and after "
        f"alternating; {len(every['after'])} requests per side. Every \"after\" body was byte-identical to "
        f"its \"before\" body. Run took {seconds:.0f} s.",
        "",
        "\"Before\" is the previous handler, mounted beside the new one: ORM rows + `selectin` deliveries, "
        "`QuoteOut.model_validate` per quote, `response_model` serialization. \"After\" is `GET /api/quotes` "
        "now: one Core query built once per shape (the newest delivery through a LATERAL join, money and JSON "
        "as text), run in AUTOCOMMIT (no BEGIN/COMMIT), rows formatted straight into JSON-ready dicts, one "
        "`orjson.dumps`.",
        "",
        "| listing | bytes | before p50 | before p99 | after p50 | after p99 | p50 speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        before, after = times[("before", scenario)], times[("after", scenario)]
        lines.append(
            f"| {scenario} | {round(sum(sizes[scenario]) / len(sizes[scenario])):,} | "
            f"{percentile(before, 50):.2f} ms | {percentile(before, 99):.2f} ms | "
            f"{percentile(after, 50):.2f} ms | {percentile(after, 99):.2f} ms | "
            f"{percentile(before, 50) / percentile(after, 50):.1f}× |")
    lines.append(
        f"| **all** | | **{percentile(every['before'], 50):.2f} ms** | {percentile(every['before'], 99):.2f} ms | "
        f"**{percentile(every['after'], 50):.2f} ms** | {percentile(every['after'], 99):.2f} ms | "
        f"{percentile(every['before'], 50) / percentile(every['after'], 50):.1f}× |")
    cpu = result["cpu"]
    verdict = "pass" if percentile(every["after"], 50) < 5 else "FAIL"
    lines += [
        "",
        f"CPU time of this process per request (server and the in-process client, all listings): before p50 "
        f"{percentile(cpu['before'], 50):.2f} ms, after p50 {percentile(cpu['after'], 50):.2f} ms. Load average "
        f"at the end of the run: {result['load'][0]:.2f} on {os.cpu_count()} CPUs (other work shares the machine, "
        "which stretches wall times; before and after alternate, so both see the same noise).",
        "",
        f"Acceptance (§6, quote listing under 5 ms server-side): after p50 {percentile(every['after'], 50):.2f} ms "
        f"— **{verdict}**.",
        "",
        f"Garbage collector: {GC_MODES[result['gc_mode']]}. Collections during the measured requests: "
        f"{result['gc']}. Longest \"after\" request: {max(every['after']):.2f} ms.",
        "",
        f"For scale, in the same run: `GET /api/contractors/me` (auth, middleware, cached contractor, no database) "
        f"p50 {percentile(times[('floor', 'me')], 50):.2f} ms.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quotes", type=int, default=100_000)
    parser.add_argument("--contractors", type=int, default=1_000)
    parser.add_argument("--db-name", default="quoted_listing_bench")
    parser.add_argument("--reuse", action="store_true", help="the database is already seeded; do not seed")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--heaviest", type=int, default=20, help="contractors measured")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "listing.md")
    parser.add_argument("--append", action="store_true", help="add this run's section to --out")
    parser.add_argument("--gc", choices=("serving", "default"), default="serving",
                        help="collector settings: a gunicorn worker's (gc_tuning) or CPython's defaults")
    args = parser.parse_args()
    started = time.perf_counter()
    name = args.db_name
    if not args.reuse:
        log(f"seeding {args.quotes:,} quotes over {args.contractors:,} contractors into {name}")
        subprocess.run([sys.executable, "bench/seed_and_explain.py", "--seed-only", "--db-name", name,
                        "--quotes", str(args.quotes), "--contractors", str(args.contractors)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    try:
        contractors = asyncio.run(prepare(name, args.heaviest))
        log(f"measuring {len(contractors)} contractors × {len(SCENARIOS)} listings × {args.rounds} rounds")
        result = asyncio.run(measure(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", contractors,
                                     args.rounds, args.gc))
    finally:
        if not args.keep:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    report = render(args, contractors, result, time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.append and args.out.exists():
        args.out.write_text(args.out.read_text().rstrip("\n") + "\n\n" + report)
    else:
        args.out.write_text(TITLE + report)
    print(report)


if __name__ == "__main__":
    main()
