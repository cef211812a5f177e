"""A fake Slack incoming webhook (``POST /services/T…/B…/…`` → ``ok``).

Slack answers plain text: ``ok`` on success, ``invalid_payload``,
``no_text``, ``no_service`` or ``invalid_token`` otherwise.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Recorded, Reply

WEBHOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
_ERROR_TEXT = {400: "invalid_payload", 403: "invalid_token", 404: "no_service", 410: "channel_is_archived",
               429: "rate_limited", 500: "internal_error"}


class FakeSlack(FakeServer):
    name = "slack"

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []

    @property
    def webhook_url(self) -> str:
        """What SLACK_WEBHOOK_URL is set to."""
        return f"{self.url}{WEBHOOK_PATH}"

    def routes(self) -> list[Route]:
        return [self.route("/services/{rest:path}", self._post, ["POST"])]

    async def _post(self, request: Request, recorded: Recorded) -> Response:
        if recorded.path != WEBHOOK_PATH:
            recorded.reply = "error 404"
            return PlainTextResponse("no_service", status_code=404)
        body = recorded.json
        if not isinstance(body, dict):
            recorded.reply = "error 400"
            return PlainTextResponse("invalid_payload", status_code=400)
        if not body.get("text") and not body.get("blocks"):
            recorded.reply = "error 400"
            return PlainTextResponse("no_text", status_code=400)
        return await self.play(self.next_reply(), recorded, lambda reply: self._answer(reply, body))

    def _answer(self, reply: Reply, body: dict[str, Any]) -> Response:
        if reply.kind == "error":
            return PlainTextResponse(_ERROR_TEXT.get(reply.status, "internal_error"), status_code=reply.status,
                                     headers=reply.headers)
        if reply.kind == "malformed":
            return PlainTextResponse("<html>gateway</html>", status_code=200)
        self.messages.append(body)
        return PlainTextResponse("ok")
