"""A scriptable local HTTP server for fake vendors.

Each fake is a small Starlette app served by uvicorn in a background thread on
a real socket (127.0.0.1, a free port chosen by the kernel), so the product's
httpx clients go through real TCP, real timeouts and real connection errors.

Scripting, per test::

    fake.script(Reply.error(500), Reply.error(500))   # the next two requests fail...
    fake.default = Reply.ok()                          # ...then every request succeeds
    fake.script(Reply.rate_limited(retry_after=1))     # 429 with a retry-after header
    fake.script(Reply.hang(5))                         # sleep longer than the client's timeout
    fake.script(Reply.malformed())                     # a 200 that breaks the vendor's contract

Every request is recorded (``fake.requests``: time, method, path, headers,
body) for asserting call counts, payloads and the gaps between retries.
Requests a fake refuses on its own (missing API key, wrong content type)
are recorded too and answered the way the real vendor would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class Reply:
    """What the fake does with one request."""

    kind: str  # ok | error | hang | malformed | raw
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, **options: Any) -> Reply:
        """The vendor's normal answer (the fake builds it; ``options`` override parts of it)."""
        return cls("ok", options=options)

    @classmethod
    def error(cls, status: int, *, headers: dict[str, str] | None = None, message: str | None = None) -> Reply:
        """The vendor's own error body for ``status``."""
        return cls("error", status=status, headers=headers or {}, options={"message": message})

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> Reply:
        return cls.error(429, headers={"retry-after": str(retry_after)})

    @classmethod
    def hang(cls, seconds: float = 30.0, then: Reply | None = None) -> Reply:
        """Sleep before answering (longer than the client's read timeout: it gives up first)."""
        return cls("hang", seconds=seconds, options={"then": then})

    @classmethod
    def malformed(cls, **options: Any) -> Reply:
        """A 2xx that breaks the vendor's contract (the fake decides how; see each fake)."""
        return cls("malformed", options=options)

    @classmethod
    def raw(cls, status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
        """Exactly this status and body (a dict/list is sent as JSON, a str as text)."""
        return cls("raw", status=status, body=body, headers=headers or {})


@dataclass
class Recorded:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, Any] | None = None
    reply: str = ""


Handler = Callable[[Request, Recorded], Awaitable[Response]]


class FakeServer:
    """uvicorn in a thread; subclasses define routes and how they answer a Reply."""

    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self.default: Reply = Reply.ok()
        self.requests: list[Recorded] = []
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self.port = 0

    # -- scripting ------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests; after them, ``default`` answers."""
        with self._lock:
            self._queue.extend(replies)

    def always(self, reply: Reply) -> None:
        """From now on answer every request with ``reply`` (clears the queue)."""
        with self._lock:
            self._queue.clear()
            self.default = reply

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.default = Reply.ok()
            self.requests.clear()

    def next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def calls(self, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- serving --------------------------------------------------------------------------

    def routes(self) -> list[Route]:  # pragma: no cover - abstract
        raise NotImplementedError

    def route(self, path: str, handler: Handler, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            recorded = Recorded(at=time.monotonic(), method=request.method, path=request.url.path,
                                headers={k.lower(): v for k, v in request.headers.items()}, body=body)
            if "json" in request.headers.get("content-type", ""):
                try:
                    recorded.json = json.loads(body or b"null")
                except ValueError:
                    recorded.json = None
            with self._lock:
                self.requests.append(recorded)
            return await handler(request, recorded)

        return Route(path, endpoint, methods=methods)

    async def play(self, reply: Reply, recorded: Recorded,
                   answer: Callable[[Reply], Response]) -> Response:
        """Carry out ``reply``: hang, raw, or let the vendor-specific ``answer`` build it."""
        recorded.reply = reply.kind if reply.kind != "error" else f"error {reply.status}"
        if reply.kind == "hang":
            await asyncio.sleep(reply.seconds)
            then = reply.options.get("then")
            if then is None:
                return PlainTextResponse("too late", status_code=504)
            return await self.play(then, recorded, answer)
        if reply.kind == "raw":
            if isinstance(reply.body, dict | list):
                return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
            return Response(str(reply.body or ""), status_code=reply.status, headers=reply.headers)
        return answer(reply)

    def start(self) -> FakeServer:
        app = Starlette(routes=self.routes())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"fake {self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def bearer(recorded: Recorded) -> str | None:
    value = recorded.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None
