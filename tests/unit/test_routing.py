"""The app's routes are one flat list (backend/main.py ``_add_routes_flat``), with the same contract.

FastAPI ≥ 0.137 includes a router as a lazy node that is matched in full, then matched again to
dispatch; the app adds the routers' routes themselves instead. These tests hold the two promises
that makes: nothing is lost or reordered, and ``/openapi.json`` is what ``include_router`` gives.
"""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount

from backend.api.openapi import install_bearer_security
from backend.config import load_settings
from backend.main import ROUTERS, _add_routes_flat, create_app


def _app() -> FastAPI:
    return create_app(load_settings(environment="test", database_url="sqlite+aiosqlite:///:memory:",
                                    redis_url="", jwt_secret="routing-test-" + "x" * 40))


def test_every_api_route_is_matched_directly_in_router_order_before_the_docs_and_the_frontend() -> None:
    routes = _app().router.routes
    expected = [route for router in ROUTERS for route in router.routes]
    assert len(expected) >= 50 and all(isinstance(route, APIRoute) for route in expected)
    # The very APIRoute objects, in the routers' order, first: an API request tries nothing else before.
    assert routes[: len(expected)] == expected
    assert all(type(route).__name__ != "_IncludedRouter" for route in routes)
    paths = [getattr(route, "path", None) for route in routes]
    assert paths.index("/openapi.json") > paths.index("/api/billing/webhook")
    assert isinstance(routes[-1], Mount) and routes[-1].path == ""  # the SPA catches what is left


def test_the_schema_is_the_one_include_router_gives() -> None:
    included = FastAPI(title="Quoted API", version="1.0.0",
                       description="Contractors describe a job; Quoted prices it with their own rates.")
    for router in ROUTERS:
        included.include_router(router)
    install_bearer_security(included)
    ours = _app().openapi()
    reference = included.openapi()
    assert len(ours["paths"]) >= 45
    assert json.dumps(ours) == json.dumps(reference)  # key order included


def test_a_router_that_nests_another_is_refused_rather_than_added_without_its_prefix() -> None:
    inner = APIRouter(prefix="/inner")

    @inner.get("/x")
    async def x() -> dict[str, str]:
        return {}

    outer = APIRouter(prefix="/api/outer")
    outer.include_router(inner)
    with pytest.raises(TypeError, match="only APIRoutes"):
        _add_routes_flat(FastAPI(), (outer,))
