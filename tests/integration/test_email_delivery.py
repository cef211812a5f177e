"""Emailing quotes and invoices through the outbox and the fake Resend server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fakes.resend import API_KEY, FakeResend
from tests.fakes.server import Reply
from tests.helpers import Account, assert_error, make_customer, make_quote, register
from tests.support.vendor_helpers import get_quote, vendor_settings, wait_for

pytestmark = pytest.mark.slow


async def _quote_for(client: httpx.AsyncClient, account: Account, *, email: str | None = "dana@example.com",
                     name: str = "Dana <script>alert(1)</script>") -> dict[str, Any]:
    extra = {"email": email} if email else {}
    customer = await make_customer(client, account, name=name, **extra)
    return await make_quote(client, account, customer_id=customer["id"])


async def _wait_delivery(client: httpx.AsyncClient, account: Account, path: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = (await client.get(path, headers=account.headers)).json()
        delivery = body.get("last_delivery")
        return body if delivery and delivery["status"] == status else None

    return await wait_for(check, timeout=20, what=f"{path} delivery {status}")  # type: ignore[no-any-return]


async def test_email_waits_while_resend_is_down_and_is_delivered_exactly_once(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_resend: FakeResend) -> None:
    client = await make_client(vendor_settings(make_settings, email=fake_resend, outbox_backoff_seconds=0.2,
                                               breaker_failure_threshold=100))
    account = await register(client, business_name="Acme & Sons")
    quote = await _quote_for(client, account)
    fake_resend.always(Reply.error(503))

    response = await client.post(f"/api/quotes/{quote['id']}/send", json={}, headers=account.headers)
    assert response.status_code == 202, response.text
    delivery = response.json()["last_delivery"]
    assert delivery["status"] == "queued" and delivery["to"] == "dana@example.com"

    await wait_for(lambda: _calls_at_least(fake_resend, 3), what="a failed outbox attempt")
    still = await get_quote(client, account, quote["id"])
    assert still["last_delivery"]["status"] == "queued" and still["status"] == "draft"

    fake_resend.always(Reply.ok())
    await _wait_delivery(client, account, f"/api/quotes/{quote['id']}", "sent")
    # Read again: under READ COMMITTED the poll above may have read the quote row just
    # before the outbox's commit and its deliveries (a second SELECT) just after.
    sent = await get_quote(client, account, quote["id"])
    assert sent["status"] == "sent"  # sending marks a draft quote sent
    assert sent["last_delivery"]["attempts"] >= 2
    assert len(fake_resend.delivered) == 1
    email = fake_resend.delivered[0]
    assert email["to"] == ["dana@example.com"] and "Q-0001" in email["subject"] and "Acme & Sons" in email["subject"]
    assert "&lt;script&gt;" in email["html"] and "<script>" not in email["html"]
    assert "Acme &amp; Sons" in email["html"]
    assert "/q/" in email["html"] and "/q/" in email["text"]  # the share link made for the email
    keys = {call.headers.get("idempotency-key") for call in fake_resend.calls("/emails")}
    assert len(keys) == 1  # every attempt carried the same idempotency key
    assert all(call.headers["authorization"] == f"Bearer {API_KEY}" for call in fake_resend.calls("/emails"))


async def _calls_at_least(fake: FakeResend, count: int) -> bool:
    return len(fake.calls("/emails")) >= count


async def test_email_goes_dead_after_max_attempts_and_shows_failed(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_resend: FakeResend) -> None:
    client = await make_client(vendor_settings(make_settings, email=fake_resend, outbox_max_attempts=2,
                                               outbox_backoff_seconds=0.05, breaker_failure_threshold=100))
    account = await register(client)
    quote = await _quote_for(client, account)
    fake_resend.always(Reply.error(500))
    response = await client.post(f"/api/quotes/{quote['id']}/send", headers=account.headers)
    assert response.status_code == 202
    failed = await _wait_delivery(client, account, f"/api/quotes/{quote['id']}", "failed")
    assert failed["last_delivery"]["attempts"] == 2
    assert failed["status"] == "draft"
    assert fake_resend.delivered == []


async def test_invoice_email_needs_an_address_and_shows_its_delivery(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_resend: FakeResend) -> None:
    client = await make_client(vendor_settings(make_settings, email=fake_resend))
    account = await register(client)
    quote = await _quote_for(client, account, email=None, name="No Email Ltd")
    invoice = (await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=account.headers)).json()

    no_address = await client.post(f"/api/invoices/{invoice['id']}/send", headers=account.headers)
    body = assert_error(no_address, 422, "validation_error")
    assert "email" in body["detail"]
    assert_error(await client.post(f"/api/invoices/{invoice['id']}/send", json={"email": "not-an-email"},
                                   headers=account.headers), 422, "validation_error")

    response = await client.post(f"/api/invoices/{invoice['id']}/send", json={"email": "ap@example.com"},
                                 headers=account.headers)
    assert response.status_code == 202, response.text
    assert response.json()["last_delivery"]["to"] == "ap@example.com"
    await _wait_delivery(client, account, f"/api/invoices/{invoice['id']}", "sent")
    sent = (await client.get(f"/api/invoices/{invoice['id']}", headers=account.headers)).json()  # see above
    assert sent["status"] == "sent"
    (email,) = fake_resend.delivered
    assert "INV-0001" in email["subject"] and "/i/" in email["html"]
    listed = (await client.get("/api/invoices", headers=account.headers)).json()["items"]
    assert listed[0]["last_delivery"]["status"] == "sent"


async def test_without_a_resend_key_the_email_is_logged_and_marked_sent(make_client: Callable[..., Any],
                                                                         make_settings: Callable[..., Any]) -> None:
    client = await make_client(vendor_settings(make_settings))
    account = await register(client)
    quote = await _quote_for(client, account)
    response = await client.post(f"/api/quotes/{quote['id']}/send", json={"email": "other@example.com"},
                                 headers=account.headers)
    assert response.status_code == 202
    sent = await _wait_delivery(client, account, f"/api/quotes/{quote['id']}", "sent")
    assert sent["last_delivery"]["to"] == "other@example.com"


async def test_send_is_scoped_to_the_owner(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote = await _quote_for(client, account)
    other = await register(client)
    assert_error(await client.post(f"/api/quotes/{quote['id']}/send", headers=other.headers), 404, "not_found")
