"""The rate-limit middleware (SEC-004): pure ASGI, in front of authentication and validation.

It sits inside CORS and outside the body limits, so a limited client gets 429
before any 401 or 422. The key is the contractor id of a *verified* access
token (signature, expiry, issuer, audience: the same check as authentication;
the verified claims are handed to the auth dependency so the token is decoded
once), else the client IP: the direct peer, or — when the peer is one of
``TRUSTED_PROXY_IPS`` — the right-most untrusted address of ``X-Forwarded-For``.

Only ``/api/*`` is limited; health checks, the frontend, signed file links and
the Stripe webhook are not. Every limited response carries
``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (epoch seconds); a 429 also
``Retry-After`` and the SPEC error body.
"""

from __future__ import annotations

import ipaddress
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.deps import VERIFIED_CLAIMS_STATE, bearer_token
from backend.config import Settings
from backend.core.errors import AppError
from backend.core.middleware import add_response_headers, error_body, send_json
from backend.core.security import decode_access_token
from backend.services.rate_limit import EXEMPT_PATHS, LOGIN_PATH, RateLimiter

LOGIN_PEEK_LIMIT = 16 * 1024  # a login body is tiny; larger ones are not parsed for the email

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """The client's IP, believing ``X-Forwarded-For`` only from trusted proxies."""

    def __init__(self, trusted: list[str]) -> None:
        self.networks: list[IPNetwork] = [ipaddress.ip_network(t, strict=False) for t in trusted]
        self._memo: dict[str, bool] = {}

    def is_trusted(self, address: str) -> bool:
        known = self._memo.get(address)
        if known is not None:
            return known
        try:
            ip = ipaddress.ip_address(address)
            trusted = any(ip in net for net in self.networks)
        except ValueError:
            trusted = False
        if len(self._memo) < 4096:
            self._memo[address] = trusted
        return trusted

    def of(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        if not self.networks or not self.is_trusted(peer):
            return peer
        forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for").decode("latin-1")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        reporter = peer
        for hop in reversed(hops):
            try:
                address = str(ipaddress.ip_address(hop))
            except ValueError:
                return reporter  # garbage from further out: the last trusted hop is all we know
            if not self.is_trusted(address):
                return address
            reporter = address
        return reporter  # every hop is a trusted proxy


async def _peek_login_email(receive: Receive) -> tuple[Receive, str | None]:
    """Read the (small) login body for its email, then replay it to the app unchanged."""
    chunks: list[Message] = []
    size = 0
    more = True
    while more and size <= LOGIN_PEEK_LIMIT:
        message = await receive()
        chunks.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        more = bool(message.get("more_body", False))
    email: str | None = None
    if not more and size <= LOGIN_PEEK_LIMIT:
        body = b"".join(m.get("body", b"") for m in chunks if m["type"] == "http.request")
        try:
            value = json.loads(body).get("email")
        except (ValueError, AttributeError):
            value = None
        if isinstance(value, str) and value.strip():
            email = value.strip().lower()[:320]

    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay, email


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, settings: Settings) -> None:
        self.app = app
        self.limiter = limiter
        self.keys = settings.jwt_verification_keys
        self.addresses = ClientAddress(settings.trusted_proxy_ips)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if not path.startswith("/api/") or path in EXEMPT_PATHS or method == "OPTIONS":
            await self.app(scope, receive, send)
            return

        contractor_id = None
        token = bearer_token(scope)
        if token is not None:
            try:
                claims = decode_access_token(token, keys=self.keys)
            except AppError:  # expired or bad: limited by address, so a flood of bad tokens is too
                pass
            else:
                contractor_id = claims.contractor_id
                scope.setdefault("state", {})[VERIFIED_CLAIMS_STATE] = (token, claims)
        email = None
        if method == "POST" and path == LOGIN_PATH:
            receive, email = await _peek_login_email(receive)

        budgets = self.limiter.budgets_for(method=method, path=path, contractor_id=contractor_id,
                                           client_ip=lambda: self.addresses.of(scope), login_email=email)
        verdict = await self.limiter.hit(budgets)
        headers = verdict.headers()
        if not verdict.allowed:
            wait = verdict.retry_after
            detail = (f"Too many requests: the limit is {verdict.budget.describe()}. "
                      f"Try again in {wait} second{'s' if wait != 1 else ''}.")
            await send_json(send, 429, error_body(429, "rate_limited", detail),
                            [*headers, (b"retry-after", str(wait).encode())])
            return

        add_response_headers(scope, headers)  # by the request context middleware, with its own
        await self.app(scope, receive, send)
