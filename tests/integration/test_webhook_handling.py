"""PAY-001: the Stripe webhook — signatures, exactly-once application, failures, ordering."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from backend.models import Contractor, StripeEvent
from backend.services import stripe_webhook_service
from tests.helpers import Account, assert_error, register
from tests.support.logs import capture_logs
from tests.support.stripe_events import (
    PREVIOUS_WEBHOOK_SECRET,
    billing_settings,
    checkout_completed,
    customer_for,
    deliver,
    event,
    invoice_event,
    sign,
    subscription_event,
)


@pytest.fixture
async def client(make_client: Callable[..., Any], make_settings: Callable[..., Any]) -> httpx.AsyncClient:
    return await make_client(billing_settings(make_settings))  # type: ignore[no-any-return]


async def contractor_row(client: httpx.AsyncClient, account: Account) -> Contractor:
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        row = await session.get(Contractor, uuid.UUID(account.id))
        assert row is not None
        return row


async def stripe_events(client: httpx.AsyncClient, event_id: str) -> list[StripeEvent]:
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        return list((await session.execute(select(StripeEvent).where(StripeEvent.id == event_id))).scalars())


async def stripe_event_count(client: httpx.AsyncClient) -> int:
    """All rows: the database is shared by the session's tests, so compare before and after."""
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        return int((await session.execute(select(func.count()).select_from(StripeEvent))).scalar_one())


async def generate(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.post("/api/quotes/generate", json={"description": "replace the kitchen faucet"},
                             headers=account.headers)


def applied(logs: Any, event_id: str) -> list[dict[str, Any]]:
    return [line for line in logs.events("stripe.event") if line.get("event_id") == event_id
            and line.get("outcome") == "applied"]


# -- signatures --------------------------------------------------------------------------------------


async def test_bad_stale_missing_signatures_and_non_json_bodies_are_refused_and_write_nothing(
        client: httpx.AsyncClient) -> None:
    account = await register(client)
    body = json.dumps(checkout_completed(account.id))
    before = await stripe_event_count(client)

    assert_error(await deliver(client, body, secret="whsec_wrong"), 400, "invalid_signature")
    assert_error(await deliver(client, body, timestamp=int(time.time()) - 301), 400, "invalid_signature")
    assert_error(await deliver(client, body, signature="t=1,v1=nothex"), 400, "invalid_signature")
    missing = await client.post("/api/billing/webhook", content=body.encode(),
                                headers={"Content-Type": "application/json"})
    assert_error(missing, 400, "invalid_signature")
    # Signed, but not JSON / not an event.
    assert_error(await deliver(client, "this is not json"), 400, "invalid_payload")
    assert_error(await deliver(client, json.dumps({"hello": "world"})), 400, "invalid_payload")
    # Tampered after signing.
    tampered = await client.post("/api/billing/webhook", content=body.replace('"pro"', '"team"').encode(),
                                 headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"})
    assert_error(tampered, 400, "invalid_signature")

    assert await stripe_event_count(client) == before
    row = await contractor_row(client, account)
    assert (row.plan, row.subscription_status) == ("trial", "trialing")


async def test_an_event_signed_with_the_previous_secret_is_accepted(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await deliver(client, checkout_completed(account.id, "starter"), secret=PREVIOUS_WEBHOOK_SECRET)
    assert response.status_code == 200, response.text
    assert (await contractor_row(client, account)).plan == "starter"


# -- exactly once ------------------------------------------------------------------------------------


async def test_checkout_completed_upgrades_the_plan_once_even_when_delivered_again(client: httpx.AsyncClient) -> None:
    account = await register(client)
    completed = checkout_completed(account.id, "pro", customer="cus_once", subscription="sub_once")
    with capture_logs() as logs:
        first = await deliver(client, completed)
        assert first.status_code == 200, first.text
        assert first.json() == {"id": completed["id"], "outcome": "applied"}
        again = await deliver(client, completed)
        assert again.status_code == 200, again.text
        assert again.json()["outcome"] == "duplicate"
    assert len(applied(logs, completed["id"])) == 1
    line = logs.events("stripe.event")[0]
    assert {"event_id", "type", "outcome", "duration_ms"} <= set(line)

    row = await contractor_row(client, account)
    assert (row.plan, row.subscription_status) == ("pro", "active")
    assert (row.stripe_customer_id, row.stripe_subscription_id) == ("cus_once", "sub_once")
    [recorded] = await stripe_events(client, completed["id"])
    assert (recorded.id, recorded.type, recorded.status) == (completed["id"], "checkout.session.completed",
                                                             "processed")
    assert recorded.processed_at is not None and recorded.created == datetime.fromtimestamp(completed["created"], UTC)
    # The cached /me shows the new plan at once (the webhook invalidated it).
    me = await client.get("/api/contractors/me", headers=account.headers)
    assert me.json()["plan"] == "pro"


async def test_ten_concurrent_deliveries_of_a_new_event_apply_it_once(client: httpx.AsyncClient) -> None:
    account = await register(client)
    completed = checkout_completed(account.id, "team")
    calls = 0
    original = stripe_webhook_service.HANDLERS["checkout.session.completed"]

    async def counting(*args: Any) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # widen the window in which the duplicates arrive
        return await original(*args)

    stripe_webhook_service.HANDLERS["checkout.session.completed"] = counting
    try:
        with capture_logs() as logs:
            responses = await asyncio.gather(*(deliver(client, completed) for _ in range(10)))
    finally:
        stripe_webhook_service.HANDLERS["checkout.session.completed"] = original
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * 9
    assert calls == 1
    assert len(applied(logs, completed["id"])) == 1
    assert (await contractor_row(client, account)).plan == "team"


async def test_a_failing_handler_answers_500_and_the_redelivery_applies_the_event(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    account = await register(client)
    completed = checkout_completed(account.id, "pro")
    original = stripe_webhook_service.HANDLERS["checkout.session.completed"]
    failures = 0

    async def fails_once(*args: Any) -> str:
        nonlocal failures
        if failures == 0:
            failures += 1
            await original(*args)  # the change is made, then the database "fails": it must roll back
            raise RuntimeError("injected database error")
        return await original(*args)

    monkeypatch.setitem(stripe_webhook_service.HANDLERS, "checkout.session.completed", fails_once)
    failed = await deliver(client, completed)
    body = assert_error(failed, 500, "internal_error")
    assert "injected" not in body["detail"]
    [recorded] = await stripe_events(client, completed["id"])
    assert recorded.status == "processing" and recorded.processed_at is None
    assert recorded.last_error is not None and "injected database error" in recorded.last_error
    assert (await contractor_row(client, account)).plan == "trial"  # rolled back

    retried = await deliver(client, completed)
    assert retried.status_code == 200, retried.text
    assert retried.json()["outcome"] == "applied"
    [recorded] = await stripe_events(client, completed["id"])
    assert (recorded.status, recorded.last_error) == ("processed", None)
    assert (await contractor_row(client, account)).plan == "pro"


# -- subscriptions -----------------------------------------------------------------------------------


async def test_an_older_subscription_update_does_not_roll_the_plan_back(client: httpx.AsyncClient) -> None:
    account = await register(client)
    customer = customer_for(account.id)
    now = int(time.time())
    assert (await deliver(client, checkout_completed(account.id, "starter", created=now - 100))).status_code == 200
    newer = subscription_event("updated", customer=customer, plan="team", period_end=now + 30 * 86400, created=now)
    assert (await deliver(client, newer)).json()["outcome"] == "applied"
    older = subscription_event("updated", customer=customer, plan="starter", created=now - 50)
    response = await deliver(client, older)
    assert response.status_code == 200 and response.json()["outcome"] == "stale"
    row = await contractor_row(client, account)
    assert row.plan == "team"
    assert row.current_period_end == datetime.fromtimestamp(now + 30 * 86400, UTC)  # from the items
    # The same second as the last applied change is still applied.
    same_second = subscription_event("updated", customer=customer, price="price_test_pro", created=now)
    assert (await deliver(client, same_second)).json()["outcome"] == "applied"
    assert (await contractor_row(client, account)).plan == "pro"  # from the price id


async def test_subscription_deleted_ends_generation_with_402(client: httpx.AsyncClient) -> None:
    account = await register(client)
    customer = customer_for(account.id)
    now = int(time.time())
    await deliver(client, checkout_completed(account.id, "pro", created=now - 10))
    assert (await generate(client, account)).status_code == 201
    deleted = await deliver(client, subscription_event("deleted", customer=customer, plan="pro", status="canceled",
                                                       created=now))
    assert deleted.json()["outcome"] == "applied"
    assert (await contractor_row(client, account)).subscription_status == "canceled"
    body = assert_error(await generate(client, account), 402, "quota_exceeded")
    assert "Pro" in body["detail"] and "canceled" in body["detail"]
    # Reading still works.
    assert (await client.get("/api/quotes", headers=account.headers)).status_code == 200


async def test_payment_failed_marks_past_due_and_payment_succeeded_restores_active(client: httpx.AsyncClient) -> None:
    account = await register(client)
    customer = customer_for(account.id)
    now = int(time.time())
    await deliver(client, checkout_completed(account.id, "pro", created=now - 10))
    failed = await deliver(client, invoice_event("payment_failed", customer=customer, created=now - 5))
    assert failed.json()["outcome"] == "applied"
    row = await contractor_row(client, account)
    assert row.subscription_status == "past_due" and row.past_due_since is not None
    assert (await generate(client, account)).status_code == 201  # inside the grace period
    await deliver(client, invoice_event("payment_succeeded", customer=customer, created=now))
    row = await contractor_row(client, account)
    assert (row.subscription_status, row.past_due_since) == ("active", None)


async def test_unhandled_events_and_unknown_customers_are_acknowledged(client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        other = await deliver(client, event("customer.created", {"id": "cus_x", "object": "customer"}))
        unknown = await deliver(client, subscription_event("updated", customer="cus_nobody"))
    assert (other.status_code, other.json()["outcome"]) == (200, "ignored")
    assert (unknown.status_code, unknown.json()["outcome"]) == (200, "unknown_contractor")
    assert {line["outcome"] for line in logs.events("stripe.event")} == {"ignored", "unknown_contractor"}
