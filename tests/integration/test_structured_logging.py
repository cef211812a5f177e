"""INFRA-008: JSON lines with request context, one access line per request, no secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backend.core.logging import get_logger
from tests.helpers import PASSWORD, register
from tests.support.logs import LogLines, capture_logs


@pytest.fixture
def capture(client: httpx.AsyncClient) -> Iterator[LogLines]:
    with capture_logs(logging.DEBUG) as lines:
        yield lines


def _json(collector: LogLines) -> list[dict[str, Any]]:
    return [json.loads(line) for line in collector.lines]


async def test_every_request_has_one_access_line_with_context(client: httpx.AsyncClient, capture: LogLines) -> None:
    account = await register(client)
    capture.lines.clear()
    response = await client.get("/api/contractors/me", headers={**account.headers, "X-Request-ID": "trace-42"})
    assert response.status_code == 200
    lines = _json(capture)
    access = [line for line in lines if line["logger"] == "quoted.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "trace-42" and line["method"] == "GET" and line["path"] == "/api/contractors/me"
    assert line["status"] == 200 and isinstance(line["duration_ms"], float)
    assert line["contractor_id"] == account.id and line["level"] == "info"
    assert line["timestamp"].endswith("Z")


async def test_a_request_context_ends_with_its_request(client: httpx.AsyncClient, capture: LogLines) -> None:
    account = await register(client)
    await client.get("/api/contractors/me", headers=account.headers)
    await client.get("/health/live")  # same task as the request before it (ASGITransport): nothing carried over
    get_logger("quoted.test").info("outside")
    me, health, outside = [line for line in _json(capture) if line["logger"] in ("quoted.access", "quoted.test")][-3:]
    assert me["contractor_id"] == account.id
    assert health["path"] == "/health/live" and "contractor_id" not in health
    assert health["request_id"] != me["request_id"]
    assert outside["event"] == "outside" and "request_id" not in outside and "path" not in outside


async def test_health_checks_log_at_debug(client: httpx.AsyncClient, capture: LogLines) -> None:
    await client.get("/health/live")
    access = [line for line in _json(capture) if line["logger"] == "quoted.access"]
    assert access and all(line["level"] == "debug" for line in access)


async def test_no_password_or_token_reaches_the_logs(client: httpx.AsyncClient, capture: LogLines) -> None:
    account = await register(client)
    await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD + "-wrong"})
    await client.get("/api/auth/me", headers=account.headers)
    text = "\n".join(capture.lines)
    assert capture.lines
    assert PASSWORD not in text and account.token not in text


async def test_unhandled_exceptions_are_logged_with_the_request_id(client: httpx.AsyncClient,
                                                                   capture: LogLines) -> None:
    app = client.app  # type: ignore[attr-defined]

    @app.get("/__test__/explode")
    async def explode() -> None:
        raise ValueError("kaboom")

    app.router.routes.insert(0, app.router.routes.pop())
    response = await client.get("/__test__/explode")
    errors = [line for line in _json(capture) if line["event"] == "request.unhandled_exception"]
    assert len(errors) == 1 and errors[0]["request_id"] == response.headers["x-request-id"]
    assert "kaboom" in errors[0].get("exception", "")
