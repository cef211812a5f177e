"""The real Quoted app plus test-only routes, served by gunicorn in tests.

Exists ONLY for tests (tests/integration/test_multi_worker.py); the product
never imports it. Served as ``tests.support.slow_app:app`` from the repository
root (``tests`` is a namespace package: there are no ``__init__.py`` files).

* ``GET /__test__/slow?seconds=N`` awaits ``asyncio.sleep(N)`` and answers 200:
  a slow request that leaves its worker's event loop free.
* ``GET /__test__/slow?seconds=N&blocking=true`` blocks the worker's event loop
  with ``time.sleep(N)``: only *other* worker processes can answer meanwhile.
* ``GET /__test__/pid`` answers the worker's process id.
"""

from __future__ import annotations

import asyncio
import os
import time

from fastapi import FastAPI, Query

from backend.main import create_app

MAX_SECONDS = 30.0


def add_test_routes(app: FastAPI) -> FastAPI:
    async def slow(
        seconds: float = Query(1.0, ge=0, le=MAX_SECONDS),
        blocking: bool = False,
    ) -> dict[str, object]:
        started = time.perf_counter()
        if blocking:
            time.sleep(seconds)  # deliberately blocks this worker's event loop
        else:
            await asyncio.sleep(seconds)
        return {"slept": round(time.perf_counter() - started, 3), "blocking": blocking, "pid": os.getpid()}

    async def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    before = len(app.router.routes)
    app.add_api_route("/__test__/slow", slow, methods=["GET"], include_in_schema=False)
    app.add_api_route("/__test__/pid", pid, methods=["GET"], include_in_schema=False)
    # Put them first: the frontend is mounted at "/" and would shadow routes
    # appended after it.
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = added
    return app


app = add_test_routes(create_app())
