"""SEC-005 CORS and the security headers on every response, 500s included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend.core.middleware import DOCS_CSP, STRICT_CSP, RequestContextMiddleware

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
                     await client.get("/nowhere"), await client.get("/"), await client.get("/app.css")):
        csp = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"]
        assert response.headers["x-request-id"]
        assert "strict-transport-security" not in response.headers  # HSTS only in production


async def test_json_gets_the_api_policy_and_everything_else_the_page_headers(client: httpx.AsyncClient) -> None:
    for path in ("/", "/q/some-share-token"):
        page = await client.get(path)
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == STRICT_CSP  # script-src 'self', nothing inline
        assert page.headers["cross-origin-opener-policy"] == "same-origin"
        assert "microphone=(self)" in page.headers["permissions-policy"]  # the recorder needs it
    for response in (await client.get("/api/auth/me"), await client.get("/health/live"),
                     await client.get("/openapi.json")):
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert "cross-origin-opener-policy" not in response.headers
        assert "permissions-policy" not in response.headers
    # Anything else a browser may open or render keeps the page headers (Chrome's PDF viewer does not run
    # under default-src 'none'; the e2e journey opens a quote's PDF).
    stylesheet = await client.get("/app.css")
    assert stylesheet.headers["content-security-policy"] == STRICT_CSP
    docs = await client.get("/docs")  # Swagger UI, outside production only: its own relaxed policy
    assert docs.headers["content-security-policy"] == DOCS_CSP


async def test_a_304_for_a_cached_page_keeps_the_page_policy(client: httpx.AsyncClient) -> None:
    # A browser copies a 304's headers onto its cached copy: the API policy on the 304 of the app's page
    # would block the app's scripts after a reload (the e2e reload test caught this).
    page = await client.get("/")
    revalidated = await client.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert revalidated.status_code == 304 and "content-type" not in revalidated.headers
    assert revalidated.headers["content-security-policy"] == STRICT_CSP
    assert revalidated.headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.parametrize("content_type", [b"text/html; charset=utf-8", b"application/json"])
async def test_hsts_when_asked_for_on_pages_and_api_alike(content_type: bytes) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await RequestContextMiddleware(app, hsts=True)(scope, None, send)  # type: ignore[arg-type]
    headers = dict(sent[0]["headers"])
    assert headers[b"strict-transport-security"] == b"max-age=63072000; includeSubDomains"
    assert headers[b"x-request-id"] and headers[b"x-content-type-options"] == b"nosniff"


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
