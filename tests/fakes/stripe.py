"""A fake Stripe REST API: customers, Checkout sessions, billing-portal sessions.

Form-encoded requests (``metadata[plan]=pro``, ``line_items[0][price]=...``)
with ``Authorization: Bearer sk_test_...``; JSON objects with ``id`` and
``object``; errors as ``{"error": {"type", "code", "message", "param"}}`` with
a ``request-id`` header, the way ``stripe-python`` expects them. Point
``STRIPE_API_BASE`` at ``fake.url``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Recorded, Reply, bearer

API_KEY = "sk_test_fake0000000000000000"

_ERRORS = {
    400: ("invalid_request_error", "parameter_missing"),
    401: ("invalid_request_error", None),
    402: ("card_error", "card_declined"),
    404: ("invalid_request_error", "resource_missing"),
    429: ("invalid_request_error", "rate_limit"),
    500: ("api_error", None),
}
_KEY_RE = re.compile(r"[^\[\]]+")


def parse_form(body: bytes) -> dict[str, Any]:
    """Stripe's nested form encoding into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = _KEY_RE.findall(key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: listify(v) for k, v in value.items()}
            if value and all(k.isdigit() for k in value):
                return [value[k] for k in sorted(value, key=int)]
        return value

    return listify(root)  # type: ignore[no-any-return]


def error_body(status: int, message: str | None = None, param: str | None = None) -> dict[str, Any]:
    kind, code = _ERRORS.get(status, ("api_error", None))
    error: dict[str, Any] = {"type": kind, "message": message or f"fake stripe error {status}"}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class FakeStripe(FakeServer):
    name = "stripe"

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.customers: dict[str, dict[str, Any]] = {}

    def routes(self) -> list[Route]:
        return [
            self.route("/v1/customers", self._customers, ["POST"]),
            self.route("/v1/checkout/sessions", self._checkout, ["POST"]),
            self.route("/v1/billing_portal/sessions", self._portal, ["POST"]),
            self.route("/v1/{rest:path}", self._unknown, ["GET", "POST", "DELETE"]),
        ]

    def _headers(self) -> dict[str, str]:
        return {"request-id": _id("req"), "stripe-version": "2025-03-31.basil"}

    def _refuse(self, recorded: Recorded) -> Response | None:
        recorded.form = parse_form(recorded.body) if recorded.body else {}
        if bearer(recorded) != self.api_key:
            recorded.reply = "error 401"
            return JSONResponse(error_body(401, "Invalid API Key provided."), status_code=401,
                                headers=self._headers())
        return None

    async def _respond(self, recorded: Recorded, build: Any, required: tuple[str, ...] = ()) -> Response:
        refused = self._refuse(recorded)
        if refused is not None:
            return refused
        form = recorded.form or {}
        for param in required:
            if param not in form:
                recorded.reply = "error 400"
                return JSONResponse(error_body(400, f"Missing required param: {param}.", param), status_code=400,
                                    headers=self._headers())

        def answer(reply: Reply) -> Response:
            if reply.kind == "error":
                return JSONResponse(error_body(reply.status, reply.options.get("message")), status_code=reply.status,
                                    headers={**self._headers(), **reply.headers})
            if reply.kind == "malformed":
                return Response("<html>502 Bad Gateway</html>", status_code=200, media_type="text/html")
            return JSONResponse(build(form, reply.options), headers=self._headers())

        return await self.play(self.next_reply(), recorded, answer)

    async def _customers(self, request: Request, recorded: Recorded) -> Response:
        def build(form: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
            customer = {"id": _id("cus"), "object": "customer", "email": form.get("email"),
                        "name": form.get("name"), "metadata": form.get("metadata", {}), "livemode": False,
                        **options}
            self.customers[customer["id"]] = customer
            return customer

        return await self._respond(recorded, build)

    async def _checkout(self, request: Request, recorded: Recorded) -> Response:
        def build(form: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
            session_id = _id("cs_test")
            return {"id": session_id, "object": "checkout.session", "url": f"{self.url}/c/pay/{session_id}",
                    "mode": form.get("mode"), "customer": form.get("customer"),
                    "client_reference_id": form.get("client_reference_id"), "metadata": form.get("metadata", {}),
                    "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
                    "status": "open", "payment_status": "unpaid", "livemode": False, **options}

        return await self._respond(recorded, build, required=("mode", "line_items", "success_url"))

    async def _portal(self, request: Request, recorded: Recorded) -> Response:
        def build(form: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
            session_id = _id("bps")
            return {"id": session_id, "object": "billing_portal.session", "url": f"{self.url}/p/session/{session_id}",
                    "customer": form.get("customer"), "return_url": form.get("return_url"), "livemode": False,
                    **options}

        return await self._respond(recorded, build, required=("customer",))

    async def _unknown(self, request: Request, recorded: Recorded) -> Response:
        refused = self._refuse(recorded)
        if refused is not None:
            return refused
        recorded.reply = "error 404"
        return JSONResponse(error_body(404, f"Unrecognized request URL ({request.method}: {recorded.path})."),
                            status_code=404, headers=self._headers())
