"""PAY-001: the plan quota on quote generation — trial, upgrade, past due, race-freedom."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from backend.models import Contractor
from backend.models.base import utcnow
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.helpers import Account, assert_error, make_customer, register
from tests.support.stripe_events import billing_settings, checkout_completed, deliver
from tests.support.vendor_helpers import vendor_settings

DESCRIPTION = "replace the kitchen faucet, new supply lines x2"
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x00" * 2048


async def generate(client: httpx.AsyncClient, account: Account, **extra: Any) -> httpx.Response:
    return await client.post("/api/quotes/generate", json={"description": DESCRIPTION, **extra},
                             headers=account.headers)


async def set_billing(client: httpx.AsyncClient, account: Account, **values: Any) -> None:
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        await session.execute(update(Contractor).where(Contractor.id == uuid.UUID(account.id)).values(**values))


async def test_the_eleventh_trial_quote_is_402_and_an_upgrade_allows_more(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(billing_settings(make_settings, trial_quotes=10))
    account = await register(client)
    for _ in range(10):
        assert (await generate(client, account)).status_code == 201
    body = assert_error(await generate(client, account), 402, "quota_exceeded")
    assert "10 quotes of your free trial" in body["detail"] and "plan" in body["detail"]
    # Ownership comes before the quota: a foreign customer is still a 404.
    assert_error(await generate(client, account, customer_id=str(uuid.uuid4())), 404, "not_found")

    assert (await deliver(client, checkout_completed(account.id, "starter"))).status_code == 200
    assert (await generate(client, account)).status_code == 201


async def test_two_concurrent_generations_at_quota_minus_one_let_exactly_one_through(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(billing_settings(make_settings, trial_quotes=3))
    account = await register(client)
    customer = await make_customer(client, account)
    for _ in range(2):
        assert (await generate(client, account)).status_code == 201
    responses = await asyncio.gather(*(generate(client, account, customer_id=customer["id"]) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [201, 402], [r.text for r in responses]
    status = (await client.get("/api/billing/status", headers=account.headers)).json()
    assert (status["quotes_used"], status["quotes_limit"]) == (3, 3)
    listed = (await client.get("/api/quotes", headers=account.headers)).json()["items"]
    assert len(listed) == 3


async def test_an_ended_trial_allows_reading_but_not_generating(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(billing_settings(make_settings))
    account = await register(client)
    assert (await generate(client, account)).status_code == 201
    await set_billing(client, account, trial_ends_at=utcnow() - timedelta(minutes=1))
    body = assert_error(await generate(client, account), 402, "quota_exceeded")
    assert "trial has ended" in body["detail"]
    assert len((await client.get("/api/quotes", headers=account.headers)).json()["items"]) == 1


async def test_past_due_keeps_access_for_the_grace_period_only(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(billing_settings(make_settings, past_due_grace_days=7))
    account = await register(client)
    await set_billing(client, account, plan="pro", subscription_status="past_due",
                      past_due_since=utcnow() - timedelta(days=6))
    assert (await generate(client, account)).status_code == 201
    await set_billing(client, account, past_due_since=utcnow() - timedelta(days=8))
    body = assert_error(await generate(client, account), 402, "quota_exceeded")
    assert "past due" in body["detail"] and "Pro" in body["detail"]


async def test_audio_and_claude_generation_check_the_quota_before_calling_the_vendors(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic,
        fake_openai: FakeOpenAI) -> None:
    settings = vendor_settings(make_settings, claude=fake_claude, whisper=fake_openai, trial_quotes=1)
    client = await make_client(settings)
    account = await register(client)
    audio = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                              files={"audio": ("voice.bin", WAV, "application/octet-stream")})
    assert audio.status_code == 201, audio.text  # the one trial quote
    calls = (len(fake_openai.transcription_calls()), len(fake_claude.message_calls()))

    assert_error(await generate(client, account), 402, "quota_exceeded")
    refused = await client.post("/api/quotes/generate-from-audio", headers=account.headers,
                                files={"audio": ("voice.bin", WAV, "application/octet-stream")})
    assert_error(refused, 402, "quota_exceeded")
    assert (len(fake_openai.transcription_calls()), len(fake_claude.message_calls())) == calls
