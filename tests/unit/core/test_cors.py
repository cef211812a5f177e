"""SEC-005: our CORS middleware answers exactly as Starlette's, with a shortcut for requests without Origin."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware as StarletteCORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from backend.core.middleware import CORSMiddleware, RequestContextMiddleware

OPTIONS: dict[str, Any] = {
    "allow_origins": ["https://app.quoted.example"], "allow_origin_regex": r"https://pr-\d+\.example",
    "allow_credentials": True, "allow_methods": ["GET", "POST"], "allow_headers": ["Authorization"],
    "expose_headers": ["X-Request-ID"], "max_age": 600,
}
RESPONSE_HEADERS = [
    [],
    [(b"content-type", b"application/json")],
    [(b"vary", b"Accept-Encoding"), (b"content-type", b"text/html")],
    [(b"vary", b"Accept"), (b"x-a", b"1"), (b"vary", b"Cookie")],
]
REQUESTS = [
    ("GET", []),
    ("GET", [(b"origin", b"https://app.quoted.example")]),
    ("GET", [(b"origin", b"https://pr-7.example")]),
    ("GET", [(b"origin", b"https://evil.example")]),
    ("OPTIONS", [(b"origin", b"https://app.quoted.example"), (b"access-control-request-method", b"POST")]),
    ("OPTIONS", [(b"access-control-request-method", b"POST")]),  # no Origin: not a preflight
]


def _app(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def _sent(middleware: Any, method: str, request_headers: list[tuple[bytes, bytes]]) -> list[Message]:
    scope = {"type": "http", "method": method, "path": "/api/x", "headers": request_headers,
             "query_string": b"", "scheme": "http", "server": ("testserver", 80)}
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        messages.append(message)

    await middleware(scope, receive, send)
    return messages


@pytest.mark.parametrize("response_headers", RESPONSE_HEADERS)
@pytest.mark.parametrize(("method", "request_headers"), REQUESTS)
async def test_every_response_is_what_starlette_sends(response_headers: list[tuple[bytes, bytes]], method: str,
                                                     request_headers: list[tuple[bytes, bytes]]) -> None:
    ours = await _sent(CORSMiddleware(_app(response_headers), **OPTIONS), method, request_headers)
    theirs = await _sent(StarletteCORSMiddleware(_app(response_headers), **OPTIONS), method, request_headers)
    assert ours == theirs


@pytest.mark.parametrize("response_headers", RESPONSE_HEADERS)
@pytest.mark.parametrize(("method", "request_headers"), REQUESTS)
async def test_inside_the_request_context_middleware_too(response_headers: list[tuple[bytes, bytes]], method: str,
                                                         request_headers: list[tuple[bytes, bytes]]) -> None:
    # As in the app: without Origin our Vary goes through the context middleware's send wrapper.
    fixed_id = [*request_headers, (b"x-request-id", b"cors-test")]
    ours = await _sent(RequestContextMiddleware(CORSMiddleware(_app(response_headers), **OPTIONS)), method,
                       fixed_id)
    theirs = await _sent(RequestContextMiddleware(StarletteCORSMiddleware(_app(response_headers), **OPTIONS)),
                         method, fixed_id)
    assert ours == theirs


async def test_requests_without_origin_skip_starlettes_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Starlette's CORS path ran for a request without Origin")

    monkeypatch.setattr(StarletteCORSMiddleware, "simple_response", refuse)
    (start, _) = await _sent(CORSMiddleware(_app([]), **OPTIONS), "GET", [(b"accept", b"*/*")])
    assert start["headers"] == [(b"vary", b"Origin")]
    (start, _) = await _sent(RequestContextMiddleware(CORSMiddleware(_app([]), **OPTIONS)), "GET", [])
    assert [value for key, value in start["headers"] if key == b"vary"] == [b"Origin"]
