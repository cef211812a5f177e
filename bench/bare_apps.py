"""The apps `load_http.py` measures Quoted against, served by the same gunicorn.conf.py.

* ``starlette_app`` — a bare Starlette JSON route: the ceiling of this stack.
* ``fastapi_app`` — a bare FastAPI route returning the same dict: the framework's own floor
  (response-model-free, no dependencies, no middleware).
* ``nocache_app`` — the real Quoted app with its cache swapped for one that always misses, so the
  pricing-brain listing can be measured over HTTP with and without the cache on the same code path.

Both bare routes answer ``GET /api/contractors/me`` with a contractor as Quoted returns it, so the
client sends the same request to all three servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.main import create_app
from backend.services.cache_service import Cache

ME: dict[str, Any] = {
    "id": "0b8e6c1e-3f43-4a55-9d57-3d1c8a8f2b10", "email": "bench@example.com",
    "business_name": "Bench Plumbing", "trade": "plumbing", "phone": None, "address": None,
    "tax_rate": "0.0000", "currency": "USD", "plan": "trial", "subscription_status": "trialing",
    "is_admin": False, "created_at": "2026-11-25T12:00:00Z",
}


async def _starlette_me(request: Request) -> JSONResponse:
    return JSONResponse(ME)


starlette_app = Starlette(routes=[Route("/api/contractors/me", _starlette_me),
                                  Route("/health/live", _starlette_me)])

fastapi_app = FastAPI()


@fastapi_app.get("/api/contractors/me")
@fastapi_app.get("/health/live")
async def _fastapi_me() -> dict[str, Any]:
    return ME


class NoCache(Cache):
    """A cache that always misses and stores nothing: the same code path, minus the cache."""

    async def get(self, key: str) -> Any | None:
        self.stats.misses += 1
        return None

    async def fill(self, key: str, value: Any, ttl: float) -> None:
        return None


def _without_cache() -> FastAPI:
    app = create_app()
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            real = application.state.cache
            application.state.cache = NoCache(prefix="quoted:bench-nocache:")
            try:
                yield state
            finally:
                application.state.cache = real  # the real one owns the Redis client to close

    app.router.lifespan_context = lifespan
    return app


nocache_app = _without_cache()
