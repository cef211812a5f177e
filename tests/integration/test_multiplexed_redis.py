"""The rate limiter's multiplexed Redis connection, against real redis-server processes.

What must hold: concurrent commands each get their own reply; an error reply, a timeout or a
dropped connection fails only the commands it concerns and never shifts a reply onto the wrong
command; the connection comes back by itself; AUTH, SELECT and an empty script cache work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from backend.services.cache_service import redis_client
from backend.services.multiplexed_redis import MultiplexedRedis, supports
from tests.support.redis_server import PrivateRedis


@pytest.fixture
async def server() -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def test_only_tcp_and_tls_urls_take_the_fast_path() -> None:
    assert supports("redis://127.0.0.1:6379/0") and supports("rediss://user:pw@cache.internal:6380/2")
    assert not supports("unix:///run/redis.sock?db=1")


async def test_concurrent_commands_each_get_their_own_reply(server: PrivateRedis) -> None:
    client = MultiplexedRedis(server.url, timeout=2)
    try:
        values = [f"value-{n}-{uuid.uuid4().hex}" for n in range(300)]
        replies = await asyncio.gather(*(client.execute("ECHO", v) for v in values))
        assert [r.decode() for r in replies] == values
        assert client._protocol is not None and not client._protocol.waiting
    finally:
        await client.aclose()


async def test_an_error_reply_fails_only_its_own_command(server: PrivateRedis) -> None:
    client = MultiplexedRedis(server.url, timeout=2)
    try:
        await client.execute("SET", "text", "not a number")
        results = await asyncio.gather(client.execute("ECHO", "before"), client.execute("INCR", "text"),
                                       client.execute("ECHO", "after"), return_exceptions=True)
        assert results[0] == b"before" and results[2] == b"after"
        assert isinstance(results[1], ResponseError) and "not an integer" in str(results[1])
    finally:
        await client.aclose()


async def test_a_late_reply_is_never_handed_to_the_next_command(server: PrivateRedis) -> None:
    assert server.process is not None
    client = MultiplexedRedis(server.url, timeout=0.3)
    try:
        assert await client.execute("ECHO", "warm") == b"warm"
        os.kill(server.process.pid, signal.SIGSTOP)  # Redis hangs: the command is sent, nothing answers
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await client.execute("ECHO", "first")
        assert time.monotonic() - started < 2
        os.kill(server.process.pid, signal.SIGCONT)
        # The reply to "first" arrives now; it must be discarded, not returned for "second".
        assert await client.execute("ECHO", "second") == b"second"
        assert await client.execute("ECHO", "third") == b"third"
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        await client.aclose()


async def test_each_command_times_out_at_its_own_deadline(server: PrivateRedis) -> None:
    assert server.process is not None
    client = MultiplexedRedis(server.url, timeout=0.4)
    try:
        assert await client.execute("ECHO", "warm") == b"warm"
        os.kill(server.process.pid, signal.SIGSTOP)
        loop = asyncio.get_running_loop()
        started = loop.time()
        failed_at: dict[str, float] = {}

        async def echo(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            with pytest.raises(RedisTimeoutError):
                await client.execute("ECHO", name)
            failed_at[name] = loop.time() - started

        await asyncio.gather(echo("first", 0), echo("second", 0.25), echo("third", 0.5))
        # Not all at the first deadline (0.4 s), and none before its own: 0.4, 0.65, 0.9 s.
        assert failed_at["first"] > 0.39 and failed_at["second"] > 0.64 and failed_at["third"] > 0.89
        assert failed_at["third"] < 2
        os.kill(server.process.pid, signal.SIGCONT)
        assert await client.execute("ECHO", "after") == b"after"  # the three late replies were discarded
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        await client.aclose()


async def test_a_dead_redis_fails_fast_and_the_connection_comes_back(server: PrivateRedis) -> None:
    client = MultiplexedRedis(server.url, timeout=1)
    try:
        assert await client.execute("ECHO", "up") == b"up"
        server.stop()
        with pytest.raises((RedisConnectionError, RedisTimeoutError)):
            await client.execute("ECHO", "down")
        with pytest.raises(RedisConnectionError):  # refused at once, not a hang
            await client.execute("ECHO", "still down")
        await asyncio.to_thread(server.start)  # same port, a new process
        assert await client.execute("ECHO", "back") == b"back"
    finally:
        await client.aclose()


async def test_password_and_database_from_the_url(server: PrivateRedis) -> None:
    admin = redis_client(server.url, timeout=2)
    try:
        await admin.config_set("requirepass", "s3cret")
        url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
        client = MultiplexedRedis(url, timeout=2)
        try:
            await client.execute("SET", "where", "db3")
        finally:
            await client.aclose()
        check = redis_client(url, timeout=2)
        try:
            assert await check.get("where") == b"db3"
        finally:
            await check.aclose()
        wrong = MultiplexedRedis(f"redis://:wrong@127.0.0.1:{server.port}/3", timeout=2)
        with pytest.raises(ResponseError):
            await wrong.execute("PING")
        await wrong.aclose()
    finally:
        await admin.aclose()


async def test_a_script_unknown_to_redis_is_sent_once_in_full(server: PrivateRedis) -> None:
    client = MultiplexedRedis(server.url, timeout=2)
    script = "return {ARGV[1], KEYS[1]}"
    admin = redis_client(server.url, timeout=2)
    try:
        sha = await admin.script_load(script)
        await admin.script_flush()  # what a restarted Redis looks like
        assert await client.evalsha(sha, script, ["k"], ["v"]) == [b"v", b"k"]
        assert (await admin.script_exists(sha)) == [True], "EVAL cached it: later calls go by SHA"
        assert await client.evalsha(sha, script, ["k2"], [3]) == [b"3", b"k2"]
    finally:
        await client.aclose()
        await admin.aclose()


async def test_commands_started_together_share_one_write(server: PrivateRedis) -> None:
    client = MultiplexedRedis(server.url, timeout=2)
    admin = redis_client(server.url, timeout=2)

    async def reads() -> int:
        return int((await admin.info("stats"))["total_reads_processed"])

    try:
        await client.execute("PING")
        before = await reads()
        replies = await asyncio.gather(*(client.execute("INCR", f"n{n}") for n in range(200)))
        assert replies == [1] * 200
        # One read for the batch (two if the kernel splits it), plus the INFO calls themselves;
        # a write per command would be 200 reads.
        assert await reads() - before <= 6
    finally:
        await client.aclose()
        await admin.aclose()
