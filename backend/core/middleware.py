"""Pure ASGI middleware (no BaseHTTPMiddleware: it sits on every request).

Order, outermost first: request context (request id, access log, security
headers, last-resort 500) → CORS → body limits → the app.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import time
from collections.abc import Iterable
from typing import Any, Protocol

from starlette.middleware.cors import CORSMiddleware as StarletteCORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.core.logging import get_logger, reset_log_context, set_log_context

log = get_logger("quoted.access")
error_log = get_logger("quoted.errors")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

JSON_BODY_LIMIT = 1024 * 1024  # 1 MB (SPEC §4)
UPLOAD_BODY_LIMIT = 26 * 1024 * 1024  # multipart: the routes apply their own, smaller limits

# No inline scripts or styles anywhere in the frontend, so the policy can be strict (SEC-001).
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (outside production only) needs its CDN and an inline bootstrap script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")
# JSON responses: nothing may load from them and nothing may frame them — OWASP's policy for API
# responses, stricter than the page's and ~300 bytes shorter on every API response.
API_CSP = "default-src 'none'; frame-ancestors 'none'"


# Headers an inner layer wants on the response (the rate limiter's X-RateLimit-*, CORS's Vary): collected
# in the scope and added by the request context middleware with its own, so an inner layer needs no send
# wrapper of its own (two calls and a closure per response each).
_RESPONSE_HEADERS = "quoted.response_headers"


def add_response_headers(scope: Scope, headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Have ``RequestContextMiddleware`` (which must run outside the caller) add ``headers`` to this
    request's response, unless the response sets them itself; a ``Vary`` is merged into the response's
    own (its values first, as Starlette's ``MutableHeaders.add_vary_header`` does)."""
    if not try_add_response_headers(scope, headers):
        raise RuntimeError("add_response_headers needs RequestContextMiddleware outside the caller")


def try_add_response_headers(scope: Scope, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """``add_response_headers``, or False (nothing added) when no request context middleware runs outside."""
    pending: list[tuple[bytes, bytes]] | None = scope.get(_RESPONSE_HEADERS)
    if pending is None:
        return False
    pending.extend(headers)
    return True


def error_body(status: int, code: str, detail: str) -> dict[str, str]:
    return {"detail": detail, "code": code, "request_id": request_id_var.get()}


def _header_list(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in headers}


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *(headers or []),
        ],
    })
    await send({"type": "http.response.body", "body": payload})


class ResponseObserver(Protocol):
    """Told about every finished request (the alerting hooks, INFRA-010); must not block or raise."""

    def request_finished(self, *, status: int, method: str, path: str, request_id: str,
                         error_type: str | None) -> None: ...


class RequestContextMiddleware:
    """Request id, log context, one access line, security headers, and the last-resort 500.

    Starlette's own error handler sits outside user middleware, so this one
    turns an unhandled exception into our error body itself: a 500 still has
    ``X-Request-ID``, the security headers and no stack trace.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False, docs_enabled: bool = True,
                 observer: ResponseObserver | None = None) -> None:
        self.app = app
        self.observer = observer
        self.docs_enabled = docs_enabled
        every = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        if hsts:
            every.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        # Headers that govern a browsing context: for pages and what a browser may open as one, not JSON.
        page = [
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), geolocation=(), microphone=(self)"),
        ]
        self.api_headers = [(b"content-security-policy", API_CSP.encode()), *every]
        self.page_headers = [(b"content-security-policy", STRICT_CSP.encode()), *every, *page]
        self.docs_headers = [(b"content-security-policy", DOCS_CSP.encode()), *every, *page]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID (~1.5 µs).
        request_id = incoming if incoming and _REQUEST_ID_RE.match(incoming) else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        path: str = scope["path"]
        log_context = set_log_context(request_id=request_id, method=scope["method"], path=path)
        scope.setdefault("state", {})["request_id"] = request_id
        pending: list[tuple[bytes, bytes]] = []
        scope[_RESPONSE_HEADERS] = pending
        page_headers = self.docs_headers if self.docs_enabled and path in DOCS_PATHS else self.page_headers
        status_holder = {"status": 500, "started": False}
        error_type: str | None = None

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = list(message.get("headers", []))
                if pending:
                    varies = [value for key, value in pending if key == b"vary"]
                    if varies:
                        headers = _with_vary(headers, varies)
                present = set()
                # The API headers for JSON only; everything else keeps the page headers: a PDF opened in
                # the browser (Chrome's viewer does not run under default-src 'none'), files, and a 304
                # without a Content-Type, whose headers a browser copies onto the cached page (the API
                # policy there would block the app's own scripts after a reload). The e2e tests caught both.
                page = True
                for key, value in headers:
                    key = key.lower()
                    present.add(key)
                    if key == b"content-type":
                        mime = value.split(b";", 1)[0].strip().lower()
                        page = not (mime == b"application/json" or mime.endswith(b"+json"))
                if b"x-request-id" not in present:
                    headers.append((b"x-request-id", request_id.encode()))
                if pending:
                    headers.extend(item for item in pending if item[0] not in present)
                headers.extend(item for item in (page_headers if page else self.api_headers)
                               if item[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - the last resort: anything unhandled becomes our 500
            error_log.exception("request.unhandled_exception")
            error_type = type(exc).__name__
            if not status_holder["started"]:
                status_holder["status"] = 500
                await send_json(
                    send_wrapper, 500,
                    error_body(500, "internal_error",
                               "Something went wrong on our side; it has been logged. "
                               "Quote the request id if you contact support."),
                )
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            status = status_holder["status"]
            level = "debug" if path.startswith("/health") else "info"
            getattr(log, level)("request", status=status, duration_ms=duration_ms)
            if self.observer is not None:
                route = getattr(scope.get("route"), "path", None)  # the template, so ids do not split alerts
                try:
                    self.observer.request_finished(status=status, method=scope["method"], path=route or path,
                                                   request_id=request_id, error_type=error_type)
                except Exception:  # noqa: BLE001 - an alert hook must never break a response
                    error_log.exception("request.observer_failed")
            reset_log_context(log_context)
            request_id_var.reset(token)


class CORSMiddleware(StarletteCORSMiddleware):
    """Starlette's CORS (SEC-005), minus its per-request work for requests without an ``Origin``.

    Those are not cross-origin requests (same-origin pages, servers, health checks): Starlette's only
    effect on them is a ``Vary: Origin`` response header, so this adds that header the way Starlette's
    ``MutableHeaders`` would (one ``Vary``, earlier values first) and skips the header parsing and
    wrapping it does for every request — through the request context middleware's own send wrapper
    when it runs outside (it does in the app), else with a wrapper of its own. Requests with an
    ``Origin`` take Starlette's path unchanged.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for key, _ in scope["headers"]:
                if key == b"origin":
                    break
            else:
                if try_add_response_headers(scope, _VARY_ORIGIN):  # merged into the response's Vary there
                    await self.app(scope, receive, send)
                    return

                async def send_with_vary(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        message["headers"] = _with_vary(message.get("headers", ()), [b"Origin"])
                    await send(message)

                await self.app(scope, receive, send_with_vary)
                return
        await super().__call__(scope, receive, send)


_VARY_ORIGIN = ((b"vary", b"Origin"),)


def _with_vary(headers: Iterable[tuple[bytes, bytes]], values: list[bytes]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``values`` added to its ``Vary``: one header, earlier values first."""
    result = list(headers)
    found = [i for i, (key, _) in enumerate(result) if key == b"vary"]
    if not found:
        result.append((b"vary", b", ".join(values)))
        return result
    value = b", ".join([result[i][1] for i in found] + values)
    for i in reversed(found[1:]):
        del result[i]
    result[found[0]] = (b"vary", value)
    return result


class BodyLimitMiddleware:
    """413 for bodies over the limit (checked before the body is read whole), 415 for
    bodies that are neither JSON nor a multipart upload."""

    def __init__(self, app: ASGIApp, *, json_limit: int = JSON_BODY_LIMIT,
                 upload_limit: int = UPLOAD_BODY_LIMIT, raw_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit
        self.raw_paths = raw_paths  # paths that take their body as raw bytes (e.g. webhooks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = _header_list(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        length_header = headers.get(b"content-length")
        has_body = (length_header not in (None, b"0")) or b"transfer-encoding" in headers
        is_upload = content_type == "multipart/form-data"
        limit = self.upload_limit if is_upload else self.json_limit

        if has_body and not is_upload and scope["path"] not in self.raw_paths and not (
            content_type == "application/json" or content_type.endswith("+json")
        ):
            await send_json(send, 415, error_body(415, "unsupported_media_type",
                                                  "Send the body as JSON with Content-Type: application/json."))
            return
        if length_header is not None:
            try:
                declared = int(length_header)
            except ValueError:
                declared = -1
            if declared < 0:
                await send_json(send, 400, error_body(400, "bad_request", "The Content-Length header is not valid."))
                return
            if declared > limit:
                await self._too_large(send, limit)
                return

        received = 0
        too_large = False
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # The framework may turn our signal into its own 400; the answer is still 413.
            nonlocal answered
            if too_large:
                if not answered:
                    answered = True
                    await self._too_large(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
            if not answered:
                await self._too_large(send, limit)

    @staticmethod
    async def _too_large(send: Send, limit: int) -> None:
        await send_json(send, 413, error_body(413, "body_too_large",
                                              f"The request body is larger than {limit // (1024 * 1024)} MB."))


class _BodyTooLarge(Exception):
    pass
