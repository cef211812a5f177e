"""SEC-005 CORS and the security headers on every response, 500s included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ALLOWED = [
    "https://pr-12-quoted.up.railway.app",
    "https://web-production-3f9a.up.railway.app",
    "https://app.quoted.example",
]
REJECTED = [
    "https://evil.up.railway.app",
    "https://pr-1-quoted.up.railway.app.evil.com",
    "http://pr-1-quoted.up.railway.app",
    "null",
    "https://xpr-1-quoted.up.railway.app",
    "https://web-production-ABC.up.railway.app",
]


@pytest.fixture
async def cors_client(make_client: Any, make_settings: Any) -> httpx.AsyncClient:
    return await make_client(make_settings(cors_origins="https://app.quoted.example"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("origin", ALLOWED)
async def test_allowed_origins_get_cors_headers(cors_client: httpx.AsyncClient, origin: str) -> None:
    simple = await cors_client.get("/health/live", headers={"Origin": origin})
    assert simple.headers.get("access-control-allow-origin") == origin
    assert simple.headers.get("access-control-allow-credentials") == "true"
    preflight = await cors_client.options("/api/customers", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers.get("access-control-allow-origin") == origin


@pytest.mark.parametrize("origin", REJECTED)
async def test_other_origins_get_no_cors_headers(cors_client: httpx.AsyncClient, origin: str) -> None:
    simple = await cors_client.get("/health/live", headers={"Origin": origin})
    assert "access-control-allow-origin" not in simple.headers
    preflight = await cors_client.options("/api/customers", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health/live"), await client.get("/api/auth/me"),
                     await client.get("/nowhere")):
        csp = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"]
        assert response.headers["x-request-id"]
        assert "strict-transport-security" not in response.headers  # HSTS only in production


async def test_unhandled_exception_is_a_clean_500_with_headers(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]

    @app.get("/__test__/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2 SELECT * FROM contractors")

    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the frontend's catch-all mount

    response = await client.get("/__test__/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error" and body["request_id"] == response.headers["x-request-id"]
    assert "hunter2" not in response.text and "SELECT" not in response.text and "Traceback" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in response.headers


async def test_openapi_declares_our_error_schema_for_422(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/api/customers"]["post"]
    assert operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "201" in operation["responses"]
