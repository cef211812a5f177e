"""One multiplexed Redis connection per process, for the command every API request sends.

The rate limiter runs one Lua script per request. Through redis-py's asyncio client that costs
~90–100 µs of this process's CPU (a pooled connection checked out and back, the command packed
in Python, a timeout wrapper per read); a bare asyncio round trip costs ~30 µs, most of it the two
system calls (``bench/results/load_profile.md``). This class is that bare round trip and no more:

* one TCP (or TLS) connection, opened on first use and again after it breaks;
* commands are written back to back, from any number of concurrent requests — those queued in one
  turn of the event loop in a single write — and replies are matched to them in order: Redis answers
  a connection's commands in the order sent;
* hiredis parses the replies (the C parser redis-py also uses);
* each command has its own deadline (one timer per connection, armed for the oldest); a late reply
  is still consumed, so order is never lost;
* every failure is a ``redis.exceptions`` error (``ConnectionError``, ``TimeoutError``,
  ``ResponseError``/``NoScriptError``), so callers handle it exactly as they handle redis-py's.

It carries no pool, retries, pub/sub, cluster or Unix sockets: everything else goes through
redis-py, and ``supports(url)`` says when a URL needs redis-py for this command too.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ssl
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int | float


def supports(url: str) -> bool:
    """True for ``redis://`` and ``rediss://`` URLs (host, port, db, user, password, TLS)."""
    options = parse_url(url)
    return "path" not in options and set(options) <= {
        "host", "port", "db", "username", "password", "connection_class", "ssl_cert_reqs"}


def _pack(args: tuple[Arg, ...]) -> bytes:
    return b"*%d\r\n%s" % (len(args), _bulk(args))


@functools.lru_cache(maxsize=8192)
def _bulk_cached(args: tuple[Arg, ...]) -> bytes:
    """``_bulk`` for the head of a command that repeats call after call (EVALSHA, the SHA, the key)."""
    return _bulk(args)


def _bulk(args: tuple[Arg, ...] | list[Arg]) -> bytes:
    parts = []
    for arg in args:
        if isinstance(arg, str):  # the common case first: this runs for every API request
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        # Each command's future and its deadline, in the order sent: Redis answers in that order, and
        # with one timeout per connection the deadlines ascend too, so one timer serves them all.
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.unsent: list[bytes] = []
        self.lost: Exception | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
            while (reply := self.reader.gets()) is not False:
                future, _ = self.waiting.popleft()
                if future.done():  # timed out or cancelled: the reply is consumed all the same
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    message = str(reply)
                    error = NoScriptError if message.startswith("NOSCRIPT") else ResponseError
                    future.set_exception(error(message))
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage on the wire: start over
            self._fail(RedisConnectionError(f"Redis protocol error: {exc}"))
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed'}"))

    def _fail(self, error: Exception) -> None:
        self.lost = self.lost or error
        self.unsent.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def send(self, payload: bytes, timeout: float) -> asyncio.Future[Any]:
        """Queue one command; its future fails with a ``TimeoutError`` if no reply came within ``timeout``."""
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise RedisConnectionError("Redis connection is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        deadline = loop.time() + timeout
        self.waiting.append((future, deadline))
        if self.timer is None:  # one timer for the oldest deadline, not one per command
            self.timer = loop.call_at(deadline, self._expire, timeout)
        if not self.unsent:
            loop.call_soon(self._flush)
        self.unsent.append(payload)
        return future

    def _expire(self, timeout: float) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for future, deadline in self.waiting:
            if deadline > now:
                self.timer = loop.call_at(deadline, self._expire, timeout)
                return
            if not future.done():
                future.set_exception(RedisTimeoutError(f"Redis did not answer within {timeout} s"))

    def _flush(self) -> None:
        # Everything queued during this turn of the event loop goes out in one write: under load
        # the requests a worker starts together share one system call each way, here and in Redis.
        if self.unsent and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.unsent))
        self.unsent.clear()


class MultiplexedRedis:
    """``await execute("EVALSHA", ...)`` over one shared connection; see the module docstring."""

    def __init__(self, url: str, *, timeout: float) -> None:
        if not supports(url):
            raise ValueError("MultiplexedRedis takes redis:// or rediss:// URLs only")
        options = parse_url(url)
        self.host: str = options.get("host", "127.0.0.1")
        self.port: int = int(options.get("port", 6379))
        self.db: int = int(options.get("db", 0))
        self.username: str | None = options.get("username")
        self.password: str | None = options.get("password")
        self.ssl: ssl.SSLContext | None = None
        if options.get("connection_class") is SSLConnection:
            self.ssl = ssl.create_default_context()
            if options.get("ssl_cert_reqs") == "none":  # the operator asked for it in REDIS_URL
                self.ssl.check_hostname = False
                self.ssl.verify_mode = ssl.CERT_NONE
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def execute(self, *args: Arg) -> Any:
        return await self._send(_pack(args))

    async def evalsha(self, sha: str, script: str, keys: list[str], args: list[Arg]) -> Any:
        """Run a Lua script by its SHA1, sending the body once when Redis does not know it yet
        (a restarted or new Redis has an empty script cache)."""
        head = ("EVALSHA", sha, len(keys), *keys)  # the same for every call with these keys: packed once
        try:
            return await self._send(b"*%d\r\n%s%s" % (len(head) + len(args), _bulk_cached(head), _bulk(args)))
        except NoScriptError:
            return await self.execute("EVAL", script, len(keys), *keys, *args)

    async def aclose(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    async def _send(self, payload: bytes) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        return await protocol.send(payload, self.timeout)

    async def _call(self, protocol: _Protocol, args: tuple[Arg, ...]) -> Any:
        return await protocol.send(_pack(args), self.timeout)

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # concurrent first requests share one connect
            if self._protocol is not None and self._protocol.lost is None:
                return self._protocol
            await self.aclose()
            loop = asyncio.get_running_loop()
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_connection(_Protocol, self.host, self.port, ssl=self.ssl), self.timeout)
            except TimeoutError as exc:
                raise RedisTimeoutError(f"connecting to Redis took over {self.timeout} s") from exc
            except OSError as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
            try:
                if self.password is not None:
                    credentials: tuple[Arg, ...] = ((self.username, self.password) if self.username
                                                    else (self.password,))
                    await self._call(protocol, ("AUTH", *credentials))
                if self.db:
                    await self._call(protocol, ("SELECT", self.db))
            except BaseException:
                if protocol.transport is not None:
                    protocol.transport.abort()
                raise
            self._protocol = protocol
            return protocol
