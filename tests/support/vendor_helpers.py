"""Helpers for the vendor, breaker and outbox tests: settings for the fakes, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.fakes import anthropic, openai, resend
from tests.helpers import Account

# Fast everything: retries wait milliseconds, the dispatcher polls often.
FAST = {
    "retry_backoff_scale": 0.001,
    "outbox_poll_seconds": 0.05,
    "outbox_backoff_seconds": 0.1,
}


def vendor_settings(make_settings: Callable[..., Any], *, claude: Any = None, whisper: Any = None,
                    email: Any = None, **overrides: Any) -> Any:
    values: dict[str, Any] = dict(FAST)
    if claude is not None:
        values.update(anthropic_api_key=anthropic.API_KEY, anthropic_base_url=claude.url)
    if whisper is not None:
        values.update(openai_api_key=openai.API_KEY, openai_base_url=whisper.base_url)
    if email is not None:
        values.update(resend_api_key=resend.API_KEY, resend_base_url=email.url)
    values.update(overrides)
    return make_settings(**values)


async def wait_for(check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0, interval: float = 0.05,
                   what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def get_quote(client: httpx.AsyncClient, account: Account, quote_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/quotes/{quote_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_quote(client: httpx.AsyncClient, account: Account, quote_id: str, status: str,
                     timeout: float = 15.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        quote = await get_quote(client, account, quote_id)
        return quote if quote["status"] == status else None

    return await wait_for(check, timeout=timeout, what=f"quote {quote_id} to be {status}")  # type: ignore[no-any-return]


