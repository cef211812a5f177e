"""A fake OpenAI audio transcription endpoint (``POST /v1/audio/transcriptions``).

Multipart with ``file`` and ``model``, ``Authorization: Bearer``; answers
``{"text": ...}``; errors are ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer, Recorded, Reply, bearer

API_KEY = "sk-test-openai-0000000000"
TRANSCRIPT = "Replace the kitchen faucet, new supply lines, and haul away the old one."

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 413: "invalid_request_error",
                429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}


def error_body(status: int, message: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message or f"fake error {status}", "type": _ERROR_TYPES.get(status, "server_error"),
                      "param": param, "code": None}}


class FakeOpenAI(FakeServer):
    name = "openai"

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.transcript = TRANSCRIPT

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL is set to (the SDK's convention includes /v1)."""
        return f"{self.url}/v1"

    def routes(self) -> list[Route]:
        return [self.route("/v1/audio/transcriptions", self._transcribe, ["POST"])]

    def transcription_calls(self) -> list[Recorded]:
        return self.calls("/v1/audio/transcriptions")

    async def _transcribe(self, request: Request, recorded: Recorded) -> Response:
        if bearer(recorded) != self.api_key:
            recorded.reply = "error 401"
            return JSONResponse(error_body(401, "Incorrect API key provided."), status_code=401)
        if not recorded.headers.get("content-type", "").startswith("multipart/form-data"):
            recorded.reply = "error 400"
            return JSONResponse(error_body(400, "Expected multipart/form-data."), status_code=400)
        form = await request.form()
        upload = form.get("file")
        model = form.get("model")
        if not isinstance(upload, UploadFile) or not model:
            recorded.reply = "error 400"
            return JSONResponse(error_body(400, "file and model are required", "file"), status_code=400)
        data = await upload.read()
        recorded.form = {"model": model, "filename": upload.filename, "content_type": upload.content_type,
                         "size": len(data), "head": data[:16],
                         **{k: v for k, v in form.items() if k not in ("file", "model") and isinstance(v, str)}}
        return await self.play(self.next_reply(), recorded, self._answer)

    def _answer(self, reply: Reply) -> Response:
        if reply.kind == "error":
            return JSONResponse(error_body(reply.status, reply.options.get("message")), status_code=reply.status,
                                headers=reply.headers)
        if reply.kind == "malformed":
            return JSONResponse({"transcript": self.transcript, "duration": 4.2})
        return JSONResponse({"text": reply.options.get("text", self.transcript)})
