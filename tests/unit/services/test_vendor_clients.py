"""Vendor clients against the fake servers: timeouts, connection errors, wire formats, the fakes themselves."""

from __future__ import annotations

import socket
from decimal import Decimal

import httpx
import pytest
import stripe

from backend.services.circuit_breaker import VendorBreaker
from backend.services.claude_service import ClaudeClient, QuoteBrief
from backend.services.email_service import DocumentEmail, EmailMessage, ResendClient, render_document_email
from backend.services.estimator import CategoryRates
from backend.services.retry import VendorBadResponse, VendorTransientError
from backend.services.transcription_service import M4A, MP3, OGG, WAV, WEBM, WhisperClient, sniff_audio
from tests.fakes import anthropic, openai, resend
from tests.fakes import stripe as fake_stripe_module
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.resend import FakeResend
from tests.fakes.server import Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.stripe import FakeStripe

SHORT = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0)
BRIEF = QuoteBrief(description="fix the leak", job_type=None, customer_name=None, business_name="Acme",
                   trade="plumbing", currency="USD", default_labor_rate=Decimal("90"),
                   categories=[CategoryRates(key="plumbing", display_name="Plumbing", labor_rate=Decimal("95"),
                                             markup_percent=Decimal("20"), min_charge=Decimal("150"),
                                             unit_prices={"faucet": Decimal("185")})])


def _breaker(vendor: str = "claude") -> VendorBreaker:
    return VendorBreaker(vendor, failure_threshold=100, recovery_timeout=30)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_hanging_vendor_times_out_and_is_retried(fake_claude: FakeAnthropic) -> None:
    client = ClaudeClient(api_key=anthropic.API_KEY, base_url=fake_claude.url, model="m", breaker=_breaker(),
                          backoff_scale=0.001, timeout=SHORT)
    try:
        fake_claude.script(Reply.hang(3))
        draft = await client.generate_quote(BRIEF)
        assert len(draft.line_items) == 2 and len(fake_claude.message_calls()) == 2
    finally:
        await client.aclose()


async def test_a_refused_connection_is_transient() -> None:
    breaker = _breaker()
    client = ClaudeClient(api_key="k", base_url=f"http://127.0.0.1:{_closed_port()}", model="m", breaker=breaker,
                          backoff_scale=0.001, timeout=SHORT)
    try:
        with pytest.raises(VendorTransientError):
            await client.generate_quote(BRIEF)
        assert breaker.failure_count == 1  # three attempts, one breaker failure
    finally:
        await client.aclose()


async def test_whisper_wire_format_and_bad_answers(fake_openai: FakeOpenAI) -> None:
    client = WhisperClient(api_key=openai.API_KEY, base_url=fake_openai.base_url, breaker=_breaker("openai"),
                           backoff_scale=0.001, timeout=SHORT)
    try:
        assert await client.transcribe(b"OggS" + b"\x00" * 100, OGG) == openai.TRANSCRIPT
        (call,) = fake_openai.transcription_calls()
        assert call.headers["authorization"] == f"Bearer {openai.API_KEY}"
        assert call.form is not None and call.form["filename"] == "recording.ogg"
        fake_openai.script(Reply.malformed())
        with pytest.raises(VendorBadResponse):
            await client.transcribe(b"OggS", OGG)
    finally:
        await client.aclose()


async def test_resend_sends_with_an_idempotency_key(fake_resend: FakeResend) -> None:
    client = ResendClient(api_key=resend.API_KEY, base_url=fake_resend.url, sender="Quoted <q@example.com>",
                          breaker=_breaker("resend"), backoff_scale=0.001, timeout=SHORT)
    message = EmailMessage(to="a@example.com", subject="Hi", html="<p>Hi</p>", text="Hi")
    try:
        first = await client.send(message, idempotency_key="item-1")
        again = await client.send(message, idempotency_key="item-1")
        assert first == again and len(fake_resend.delivered) == 1
        assert fake_resend.delivered[0]["from"] == "Quoted <q@example.com>"
    finally:
        await client.aclose()


def test_audio_is_recognised_by_its_signature() -> None:
    assert sniff_audio(b"\x1a\x45\xdf\xa3\x01\x00") == WEBM
    assert sniff_audio(b"OggS\x00\x02") == OGG
    assert sniff_audio(b"ID3\x04\x00") == MP3 and sniff_audio(b"\xff\xfb\x90\x00") == MP3
    assert sniff_audio(b"\x00\x00\x00\x20ftypM4A \x00") == M4A
    assert sniff_audio(b"RIFF\x00\x00\x00\x00WAVEfmt ") == WAV
    assert sniff_audio(b"<html>") is None and sniff_audio(b"\x89PNG\r\n\x1a\n") is None


def test_email_templates_escape_every_value() -> None:
    subject, html, text = render_document_email(DocumentEmail(
        kind="quote", number="Q-0007", title="<b>Roof</b>", business_name="Bob's \"Best\" <Roofing>\r\nBcc: x",
        customer_name="<img src=x onerror=alert(1)>", currency="USD", total="10.00",
        lines=[("<script>", "10.00")], link="https://app.example.com/q/abc?x=\"><script>"))
    assert "<script>" not in html and "<img" not in html and "<b>Roof" not in html
    assert "&lt;script&gt;" in html and "&quot;&gt;&lt;script&gt;" in html
    assert "\n" not in subject and "\r" not in subject and subject.startswith("Quote Q-0007 from")
    assert "<script>" in text  # the plain-text body is not HTML: it is shown as written


async def test_fake_stripe_speaks_to_the_real_sdk(fake_stripe: FakeStripe) -> None:
    client = stripe.StripeClient(fake_stripe_module.API_KEY, http_client=stripe.HTTPXClient(),
                                 max_network_retries=0, base_addresses={"api": fake_stripe.url})
    customer = await client.v1.customers.create_async(params={"email": "c@example.com", "metadata": {"id": "1"}})
    assert customer.id.startswith("cus_") and customer.email == "c@example.com"
    session = await client.v1.checkout.sessions.create_async(params={
        "mode": "subscription", "success_url": "https://x/ok", "client_reference_id": "abc",
        "line_items": [{"price": "price_pro", "quantity": 1}], "metadata": {"plan": "pro"}})
    assert session.url and session.metadata["plan"] == "pro"
    recorded = fake_stripe.calls("/v1/checkout/sessions")[0]
    assert recorded.form is not None and recorded.form["line_items"][0]["price"] == "price_pro"
    portal = await client.v1.billing_portal.sessions.create_async(params={"customer": customer.id})
    assert portal.url
    fake_stripe.script(Reply.error(402, message="Your card was declined."))
    with pytest.raises(stripe.CardError):
        await client.v1.customers.create_async(params={"email": "d@example.com"})
    with pytest.raises(stripe.AuthenticationError):
        bad = stripe.StripeClient("sk_test_wrong", http_client=stripe.HTTPXClient(), max_network_retries=0,
                                  base_addresses={"api": fake_stripe.url})
        await bad.v1.customers.create_async(params={})


async def test_fake_slack_webhook(fake_slack: FakeSlack) -> None:
    async with httpx.AsyncClient() as http:
        ok = await http.post(fake_slack.webhook_url, json={"text": "hello"})
        assert ok.status_code == 200 and ok.text == "ok"
        empty = await http.post(fake_slack.webhook_url, json={})
        assert empty.status_code == 400 and empty.text == "no_text"
        fake_slack.script(Reply.error(500))
        assert (await http.post(fake_slack.webhook_url, json={"text": "x"})).status_code == 500
    assert fake_slack.messages == [{"text": "hello"}]
