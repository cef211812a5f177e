"""INFRA-009: the Claude breaker opens after five failed generations and the work completes afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from backend.services.circuit_breaker import breaker_states
from tests.fakes.anthropic import VALID_SUBTOTAL, FakeAnthropic
from tests.fakes.server import Reply
from tests.helpers import register
from tests.support.logs import capture_logs
from tests.support.vendor_helpers import vendor_settings, wait_quote

pytestmark = pytest.mark.slow

DESCRIPTION = "replace the kitchen faucet, new supply lines, haul away the old one"


async def test_five_failures_open_the_breaker_and_every_processing_quote_finishes_once(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, breaker_failure_threshold=5,
                               breaker_recovery_seconds=1.0, outbox_backoff_seconds=2.0)
    client = await make_client(settings)
    account = await register(client)
    transitions: list[tuple[str, str, str]] = []
    client.app.state.vendors.breakers.add_listener(lambda *t: transitions.append(t))  # type: ignore[attr-defined]
    fake_claude.always(Reply.error(500))

    with capture_logs() as logs:
        ids = []
        for _ in range(5):
            response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION},
                                         headers=account.headers)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        assert len(fake_claude.message_calls()) == 15  # five generations, three attempts each
        assert breaker_states()["claude"] == "open"

        started = time.perf_counter()
        sixth = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
        elapsed = time.perf_counter() - started
    assert sixth.status_code == 202 and sixth.json()["status"] == "processing"
    assert elapsed < 1.0
    assert len(fake_claude.message_calls()) == 15  # the sixth called nothing
    ids.append(sixth.json()["id"])
    assert ("claude", "closed", "open") in transitions
    changes = logs.events("breaker.state_change")
    assert any(c["vendor"] == "claude" and c["old"] == "closed" and c["new"] == "open" for c in changes)

    # The vendor recovers; after the recovery time the dispatcher finishes every quote, none twice.
    fake_claude.always(Reply.ok())
    for quote_id in ids:
        quote = await wait_quote(client, account, quote_id, "draft", timeout=20)
        assert quote["subtotal"] == VALID_SUBTOTAL and len(quote["line_items"]) == 2
    successes = [call for call in fake_claude.message_calls() if call.reply == "ok"]
    assert len(successes) == len(ids)
    assert breaker_states()["claude"] == "closed"
    assert ("claude", "half_open", "closed") in transitions


async def test_client_errors_never_open_the_breaker(make_client: Callable[..., Any],
                                                    make_settings: Callable[..., Any],
                                                    fake_claude: FakeAnthropic) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, breaker_failure_threshold=2,
                               outbox_backoff_seconds=60)
    client = await make_client(settings)
    account = await register(client)
    fake_claude.always(Reply.error(400))
    for _ in range(4):
        response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION},
                                     headers=account.headers)
        assert response.status_code == 202
    assert len(fake_claude.message_calls()) == 4  # every request reached the vendor: the breaker stayed closed
    assert breaker_states()["claude"] == "closed"


async def test_a_vendor_down_does_not_break_the_others(make_client: Callable[..., Any],
                                                       make_settings: Callable[..., Any],
                                                       fake_claude: FakeAnthropic) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, breaker_failure_threshold=1,
                               outbox_backoff_seconds=60)
    client = await make_client(settings)
    account = await register(client)
    fake_claude.always(Reply.error(500))
    await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    states = breaker_states()
    assert states["claude"] == "open"
    assert {v for k, v in states.items() if k != "claude"} == {"closed"}
    assert set(states) == {"claude", "openai", "stripe", "resend", "slack"}
