"""Stripe webhook events for the billing tests, signed the way Stripe signs them.

``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, f"{t}.{payload}")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

WEBHOOK_SECRET = "whsec_test_current_" + "a" * 24
PREVIOUS_WEBHOOK_SECRET = "whsec_test_previous_" + "b" * 24
PRICES = {"starter": "price_test_starter", "pro": "price_test_pro", "team": "price_test_team"}


def billing_settings(make_settings: Callable[..., Any], **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_webhook_secret_previous": PREVIOUS_WEBHOOK_SECRET,
        "stripe_price_starter": PRICES["starter"], "stripe_price_pro": PRICES["pro"],
        "stripe_price_team": PRICES["team"],
        "retry_backoff_scale": 0.001,
    }
    values.update(overrides)
    return make_settings(**values)


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(kind: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": "2025-03-31.basil",
        "type": kind, "created": int(time.time()) if created is None else created, "livemode": False,
        "data": {"object": obj},
    }


def customer_for(contractor_id: str) -> str:
    """A Stripe customer id of its own per contractor (the test database is shared by many tests)."""
    return "cus_" + contractor_id.replace("-", "")[:20]


def checkout_completed(contractor_id: str, plan: str = "pro", *, customer: str | None = None,
                       subscription: str = "sub_test_1", **kwargs: Any) -> dict[str, Any]:
    return event("checkout.session.completed", {
        "id": f"cs_test_{secrets.token_hex(6)}", "object": "checkout.session", "mode": "subscription",
        "client_reference_id": contractor_id, "customer": customer or customer_for(contractor_id),
        "subscription": subscription,
        "metadata": {"plan": plan}, "status": "complete", "payment_status": "paid",
    }, **kwargs)


def subscription_event(kind: str, *, customer: str, status: str = "active", plan: str | None = None,
                       price: str | None = None, period_end: int | None = None,
                       **kwargs: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": "si_test_1", "object": "subscription_item",
                            "price": {"id": price or PRICES.get(plan or "pro", "price_unknown"), "object": "price"}}
    if period_end is not None:
        item["current_period_end"] = period_end
    return event(f"customer.subscription.{kind}", {
        "id": "sub_test_1", "object": "subscription", "customer": customer, "status": status,
        "metadata": {"plan": plan} if plan else {}, "items": {"object": "list", "data": [item]},
    }, **kwargs)


def invoice_event(kind: str, *, customer: str, **kwargs: Any) -> dict[str, Any]:
    return event(f"invoice.{kind}", {"id": f"in_{secrets.token_hex(6)}", "object": "invoice",
                                     "customer": customer, "subscription": "sub_test_1"}, **kwargs)


async def deliver(client: httpx.AsyncClient, body: dict[str, Any] | str, *, secret: str = WEBHOOK_SECRET,
                  timestamp: int | None = None, signature: str | None = None) -> httpx.Response:
    payload = body if isinstance(body, str) else json.dumps(body)
    header = signature if signature is not None else sign(payload, secret, timestamp)
    return await client.post("/api/billing/webhook", content=payload.encode(),
                             headers={"Stripe-Signature": header, "Content-Type": "application/json"})
