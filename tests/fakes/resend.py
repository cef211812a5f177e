"""A fake Resend API (``POST /emails`` → ``{"id": ...}``).

``Authorization: Bearer re_...``; JSON ``{from, to, subject, html|text}``;
errors are ``{"statusCode", "name", "message"}``. Like Resend, a repeated
``Idempotency-Key`` returns the first email's id instead of sending again, and
``delivered`` lists each email actually sent once.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Recorded, Reply, bearer

API_KEY = "re_test_0000000000000000"

_ERROR_NAMES = {400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key", 422: "validation_error",
                429: "rate_limit_exceeded", 500: "internal_server_error", 503: "internal_server_error"}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    return {"statusCode": status, "name": _ERROR_NAMES.get(status, "application_error"),
            "message": message or f"fake error {status}"}


class FakeResend(FakeServer):
    name = "resend"

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.delivered: list[dict[str, Any]] = []
        self._by_key: dict[str, str] = {}

    def routes(self) -> list[Route]:
        return [self.route("/emails", self._emails, ["POST"])]

    async def _emails(self, request: Request, recorded: Recorded) -> Response:
        if bearer(recorded) != self.api_key:
            recorded.reply = "error 401"
            return JSONResponse(error_body(401, "Missing API key in the authorization header"), status_code=401)
        body = recorded.json if isinstance(recorded.json, dict) else None
        if body is None or not body.get("from") or not body.get("to") or not body.get("subject") \
                or not (body.get("html") or body.get("text")):
            recorded.reply = "error 422"
            return JSONResponse(error_body(422, "from, to, subject and html or text are required"),
                                status_code=422)
        return await self.play(self.next_reply(), recorded, lambda reply: self._answer(reply, recorded, body))

    def _answer(self, reply: Reply, recorded: Recorded, body: dict[str, Any]) -> Response:
        if reply.kind == "error":
            return JSONResponse(error_body(reply.status, reply.options.get("message")), status_code=reply.status,
                                headers=reply.headers)
        if reply.kind == "malformed":
            return JSONResponse({"ok": True})
        key = recorded.headers.get("idempotency-key")
        if key and key in self._by_key:
            return JSONResponse({"id": self._by_key[key]})
        email_id = str(uuid.uuid4())
        if key:
            self._by_key[key] = email_id
        self.delivered.append({"id": email_id, **body})
        return JSONResponse({"id": email_id})
