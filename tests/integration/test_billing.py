"""PAY-001: plans, Stripe Checkout and portal against the fake Stripe, status, outages and the breaker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from backend.services.circuit_breaker import breaker_states
from tests.fakes import stripe as fake_stripe_module
from tests.fakes.server import Reply
from tests.fakes.stripe import FakeStripe
from tests.helpers import assert_error, register
from tests.support.stripe_events import PRICES, billing_settings, checkout_completed, deliver


def stripe_settings(make_settings: Callable[..., Any], fake: FakeStripe, **overrides: Any) -> Any:
    return billing_settings(make_settings, stripe_secret_key=fake_stripe_module.API_KEY, stripe_api_base=fake.url,
                            **overrides)


async def test_plans_are_public_with_price_strings_and_quotas(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/billing/plans")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [p["key"] for p in items] == ["starter", "pro", "team"]
    assert set(items[0]) == {"key", "name", "monthly_price", "quotes_per_month"}
    assert all(isinstance(p["monthly_price"], str) and "." in p["monthly_price"] for p in items)
    assert all(isinstance(p["quotes_per_month"], int) and p["quotes_per_month"] > 0 for p in items)


async def test_checkout_returns_the_stripe_url_and_reuses_the_customer(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_stripe: FakeStripe) -> None:
    client = await make_client(stripe_settings(make_settings, fake_stripe))
    account = await register(client)

    first = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=account.headers)
    assert first.status_code == 200, first.text
    assert first.json()["url"].startswith(f"{fake_stripe.url}/c/pay/cs_test_")
    [customer_call] = fake_stripe.calls("/v1/customers")
    assert customer_call.form["metadata"]["contractor_id"] == account.id
    assert customer_call.headers.get("idempotency-key") == f"quoted-customer-{account.id}"
    [checkout_call] = fake_stripe.calls("/v1/checkout/sessions")
    form = checkout_call.form
    assert form["mode"] == "subscription" and form["client_reference_id"] == account.id
    assert form["metadata"]["plan"] == "pro" and form["line_items"][0]["price"] == PRICES["pro"]
    customer_id = form["customer"]
    assert customer_id.startswith("cus_")

    second = await client.post("/api/billing/checkout", json={"plan": "team"}, headers=account.headers)
    assert second.status_code == 200, second.text
    assert len(fake_stripe.calls("/v1/customers")) == 1  # stored and reused
    assert fake_stripe.calls("/v1/checkout/sessions")[-1].form["customer"] == customer_id

    portal = await client.post("/api/billing/portal", headers=account.headers)
    assert portal.status_code == 200, portal.text
    assert portal.json()["url"].startswith(f"{fake_stripe.url}/p/session/")
    assert fake_stripe.calls("/v1/billing_portal/sessions")[0].form["customer"] == customer_id


async def test_checkout_validates_the_plan_and_portal_needs_a_customer(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_stripe: FakeStripe) -> None:
    client = await make_client(stripe_settings(make_settings, fake_stripe))
    account = await register(client)
    assert_error(await client.post("/api/billing/checkout", json={"plan": "gold"}, headers=account.headers),
                 422, "validation_error")
    assert_error(await client.post("/api/billing/checkout", json={"plan": "pro"}), 401, "not_authenticated")
    assert_error(await client.post("/api/billing/portal", headers=account.headers), 409, "invalid_state")
    assert fake_stripe.calls() == []


async def test_checkout_without_stripe_configured_is_503_with_retry_after(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=account.headers)
    body = assert_error(response, 503, "service_unavailable")
    assert "not configured" in body["detail"]
    assert int(response.headers["retry-after"]) > 0


async def test_stripe_down_is_503_and_after_five_failures_the_breaker_answers_without_calling(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_stripe: FakeStripe) -> None:
    client = await make_client(stripe_settings(make_settings, fake_stripe, breaker_failure_threshold=5,
                                               breaker_recovery_seconds=60))
    account = await register(client)
    fake_stripe.always(Reply.error(500))
    for _ in range(5):
        response = await client.post("/api/billing/checkout", json={"plan": "starter"}, headers=account.headers)
        body = assert_error(response, 503, "service_unavailable")
        assert "Billing" in body["detail"] and "stripe" not in body["detail"].lower()
        assert int(response.headers["retry-after"]) > 0
    assert len(fake_stripe.calls()) == 15  # five checkouts, three attempts each (customer creation)
    assert breaker_states()["stripe"] == "open"

    response = await client.post("/api/billing/checkout", json={"plan": "starter"}, headers=account.headers)
    assert_error(response, 503, "service_unavailable")
    assert len(fake_stripe.calls()) == 15  # the breaker answered; the fake was not called


async def test_status_reports_plan_usage_and_limit(
        make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> None:
    client = await make_client(billing_settings(make_settings, trial_quotes=10))
    account = await register(client)
    for _ in range(2):
        generated = await client.post("/api/quotes/generate", json={"description": "paint the bedroom walls"},
                                      headers=account.headers)
        assert generated.status_code == 201, generated.text
    status = (await client.get("/api/billing/status", headers=account.headers)).json()
    assert status["plan"] == "trial" and status["subscription_status"] == "trialing"
    assert (status["quotes_used"], status["quotes_limit"]) == (2, 10)
    assert status["current_period_end"] is not None  # the trial's end

    await deliver(client, checkout_completed(account.id, "starter"))
    status = (await client.get("/api/billing/status", headers=account.headers)).json()
    assert (status["plan"], status["subscription_status"]) == ("starter", "active")
    assert (status["quotes_used"], status["quotes_limit"]) == (0, 50)  # a new period on the paid plan
    assert_error(await client.get("/api/billing/status"), 401, "not_authenticated")
