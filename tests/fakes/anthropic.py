"""A fake Anthropic Messages API (``POST /v1/messages``), tool use included.

Speaks the real wire format: ``x-api-key`` and ``anthropic-version`` headers,
``tools`` + ``tool_choice: {"type": "tool", "name": ...}`` in the request, a
``tool_use`` content block and ``stop_reason: "tool_use"`` in the answer, and
``{"type": "error", "error": {"type": "overloaded_error", ...}}`` bodies for
errors (529 overloaded, 429 rate limit, 500 api_error, ...).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Recorded, Reply

API_KEY = "sk-ant-test-key-0000000000"

# A valid quote as the model would return it through the tool: 185.00 + 2.5 × 95 = 422.50.
VALID_TOOL_INPUT: dict[str, Any] = {
    "title": "Kitchen faucet replacement",
    "line_items": [
        {"name": "Kitchen faucet", "description": "Mid-range single-handle faucet", "category": "fixtures",
         "quantity": 1, "unit": "each", "unit_price": 185.0},
        {"name": "Plumber labour", "description": "Remove old faucet, fit new one and supply lines",
         "category": "labor", "quantity": 2.5, "unit": "hour", "unit_price": 95},
    ],
    "estimated_days": 1,
    "crew_size": 1,
    "confidence": "high",
    "questions": ["Is there a shut-off valve under the sink?"],
}
VALID_SUBTOTAL = "422.50"

_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    529: "overloaded_error",
}

# Ways a 200 can break the contract (Reply.malformed(variant=...)).
MALFORMED_VARIANTS = ("wrong_types", "missing_line_items", "text_only", "not_json", "negative_price")


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message or f"fake {kind}"}}


class FakeAnthropic(FakeServer):
    name = "anthropic"

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.tool_input: dict[str, Any] = copy.deepcopy(VALID_TOOL_INPUT)

    def routes(self) -> list[Route]:
        return [self.route("/v1/messages", self._messages, ["POST"])]

    def message_calls(self) -> list[Recorded]:
        return self.calls("/v1/messages")

    async def _messages(self, request: Request, recorded: Recorded) -> Response:
        headers = {"request-id": f"req_{uuid.uuid4().hex[:20]}"}
        if recorded.headers.get("x-api-key") != self.api_key:
            recorded.reply = "error 401"
            return JSONResponse(error_body(401, "invalid x-api-key"), status_code=401, headers=headers)
        if not recorded.headers.get("anthropic-version"):
            recorded.reply = "error 400"
            return JSONResponse(error_body(400, "anthropic-version: header is required"), status_code=400,
                                headers=headers)
        body = recorded.json if isinstance(recorded.json, dict) else {}
        problem = self._check_body(body)
        if problem:
            recorded.reply = "error 400"
            return JSONResponse(error_body(400, problem), status_code=400, headers=headers)
        return await self.play(self.next_reply(), recorded, lambda reply: self._answer(reply, body, headers))

    @staticmethod
    def _check_body(body: dict[str, Any]) -> str | None:
        for key in ("model", "max_tokens", "messages"):
            if key not in body:
                return f"{key}: Field required"
        choice = body.get("tool_choice")
        if choice is not None:
            names = {tool.get("name") for tool in body.get("tools") or []}
            if choice.get("type") == "tool" and choice.get("name") not in names:
                return "tool_choice.name: must name one of the tools"
        return None

    def _answer(self, reply: Reply, body: dict[str, Any], headers: dict[str, str]) -> Response:
        if reply.kind == "error":
            return JSONResponse(error_body(reply.status, reply.options.get("message")), status_code=reply.status,
                                headers={**headers, **reply.headers})
        tool_name = (body.get("tool_choice") or {}).get("name") or "record_quote"
        tool_input = copy.deepcopy(reply.options.get("tool_input") or self.tool_input)
        content: list[dict[str, Any]] = [
            {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": tool_name, "input": tool_input},
        ]
        stop_reason = "tool_use"
        if reply.kind == "malformed":
            variant = reply.options.get("variant", "wrong_types")
            if variant == "not_json":
                return Response("<html>upstream proxy error</html>", status_code=200, media_type="text/html")
            if variant == "text_only":
                content = [{"type": "text", "text": "Sure! The faucet job costs about $400."}]
                stop_reason = "end_turn"
            elif variant == "missing_line_items":
                tool_input.pop("line_items", None)
            elif variant == "negative_price":
                tool_input["line_items"][0]["unit_price"] = -185
            else:  # wrong_types, with totals that do not add up
                tool_input["line_items"][0]["quantity"] = "a couple"
                tool_input["line_items"][1]["amount"] = 99999
                tool_input["subtotal"] = 1
        return JSONResponse({
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 812, "output_tokens": 245},
        }, headers=headers)
