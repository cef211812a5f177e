"""INFRA-010: alerts reach the fake Slack webhook once per title and window, never in a request's way."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from backend.services.alerting_service import Alerts
from backend.services.retry import VendorTransientError
from tests.fakes.server import Reply
from tests.fakes.slack import FakeSlack
from tests.helpers import assert_error, register
from tests.support.redis_server import PrivateRedis

MakeClient = Callable[..., Any]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def add_failing_route(app: FastAPI, path: str) -> None:
    """A route of this test's own app that always raises (never part of the product)."""

    async def boom() -> None:
        raise RuntimeError("forced failure for the alerting test")

    app.add_api_route(path, boom, methods=["GET"])
    route = app.router.routes.pop()
    assert isinstance(route, APIRoute)
    app.router.routes.insert(0, route)  # before the frontend's catch-all mount


def alerts_of(client: httpx.AsyncClient) -> Alerts:
    return client.app.state.alerts  # type: ignore[attr-defined, no-any-return]


def messages_titled(slack: FakeSlack, title: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages if title in m["text"]]


async def test_storm_of_500s_sends_one_critical_and_one_summary_across_two_apps(
    fake_slack: FakeSlack, private_redis: PrivateRedis, make_client: MakeClient,
    make_settings: Callable[..., Any],
) -> None:
    window = 3.0
    settings = make_settings(slack_webhook_url=fake_slack.webhook_url, redis_url=private_redis.url,
                             alert_dedupe_seconds=window)
    apps = [await make_client(settings), await make_client(settings)]
    path = f"/test-only/boom-{uuid.uuid4().hex[:8]}"
    for client in apps:
        add_failing_route(client.app, path)

    started = time.monotonic()
    responses = await asyncio.gather(*(apps[i % 2].get(path) for i in range(100)))
    assert time.monotonic() - started < window - 0.5, "the storm must fit in one window"
    for response in responses:
        body = assert_error(response, 500, "internal_error")
        assert body["request_id"]
    for client in apps:
        await alerts_of(client).drain()

    title = f"Unhandled RuntimeError on GET {path}"
    first = messages_titled(fake_slack, title)
    assert len(first) == 1, [m["text"] for m in first]
    assert "[CRITICAL]" in first[0]["text"]
    attachment = first[0]["attachments"][0]
    assert "request_id" in str(attachment["blocks"])

    await asyncio.sleep(window + 0.5)  # the window closes: one summary with the count of the rest
    for client in apps:
        await alerts_of(client).drain()
    summaries = messages_titled(fake_slack, title)[1:]
    assert len(summaries) == 1, [m["text"] for m in summaries]
    assert re.search(r"\b99 more since \d\d:\d\d", summaries[0]["text"]), summaries[0]["text"]
    # The error-rate trigger fired too: once across both apps, plus at most one summary.
    rate = messages_titled(fake_slack, "High error rate")
    assert len([m for m in rate if "more since" not in m["text"]]) == 1
    assert len(rate) <= 2


async def test_in_process_fallback_without_redis_counts_and_summarises() -> None:
    alerts = Alerts(webhook_url=None, window_seconds=0.5)
    alerts.start(redis=None, breaker=None)
    try:
        for _ in range(5):
            alerts.send_alert("warning", "Same title", "again", {"path": "/x"})
        await alerts.drain()
        assert [a.message for a in alerts.sent] == ["again"]
        await asyncio.sleep(0.8)
        await alerts.drain()
        assert len(alerts.sent) == 2 and "4 more since" in alerts.sent[1].message
    finally:
        await alerts.aclose()


async def test_redis_at_a_closed_port_falls_back_to_in_process_dedupe(fake_slack: FakeSlack) -> None:
    from backend.services.cache_service import redis_client
    from tests.support.redis_server import free_port

    alerts = Alerts(webhook_url=fake_slack.webhook_url, window_seconds=30)
    alerts.start(redis=redis_client(f"redis://127.0.0.1:{free_port()}/0"), breaker=None)
    try:
        for _ in range(10):
            alerts.send_alert("critical", "Fallback title", "boom")
        await alerts.drain()
        assert len(messages_titled(fake_slack, "Fallback title")) == 1
    finally:
        await alerts.aclose()


async def test_opened_breaker_sends_one_warning(fake_slack: FakeSlack, make_client: MakeClient,
                                                make_settings: Callable[..., Any]) -> None:
    client = await make_client(make_settings(slack_webhook_url=fake_slack.webhook_url,
                                             breaker_failure_threshold=2))
    breaker = client.app.state.vendors.breakers["claude"]  # type: ignore[attr-defined]

    async def failing() -> None:
        raise VendorTransientError("claude", "overloaded", status=529)

    for _ in range(6):  # two failures open it; the rest are refused without a call
        with pytest.raises(Exception):  # noqa: B017 - transient errors, then VendorUnavailable
            await breaker.guard(failing)
    await alerts_of(client).drain()
    opened = messages_titled(fake_slack, "Circuit breaker open: claude")
    assert len(opened) == 1
    assert "[WARNING]" in opened[0]["text"]


@pytest.mark.parametrize("outage", ["hang", "error"])
async def test_slack_down_loses_no_request_slows_none_and_raises_nothing(
    outage: str, fake_slack: FakeSlack, make_client: MakeClient, make_settings: Callable[..., Any],
) -> None:
    fake_slack.always(Reply.hang(5) if outage == "hang" else Reply.error(500))
    client = await make_client(make_settings(slack_webhook_url=fake_slack.webhook_url,
                                             alert_dedupe_seconds=0.2))
    add_failing_route(client.app, "/test-only/boom")
    account = await register(client)
    durations = []
    for i in range(30):
        started = time.perf_counter()
        if i % 3 == 0:
            response = await client.get(f"/test-only/boom?i={i}")
            assert_error(response, 500, "internal_error")
        else:
            response = await client.get("/api/contractors/me", headers=account.headers)
            assert response.status_code == 200, response.text
        durations.append(time.perf_counter() - started)
        alerts_of(client).send_alert("critical", f"direct {i}", "Slack is down; this must not raise")
        await asyncio.sleep(0.02)
    assert max(durations) < 0.5, durations
    assert fake_slack.messages == []  # nothing was delivered, and nothing raised
    assert fake_slack.calls(), "the alerts were attempted"


async def test_admin_test_alert_is_sent_as_info_and_others_get_403(
    fake_slack: FakeSlack, make_client: MakeClient, make_settings: Callable[..., Any],
) -> None:
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    client = await make_client(make_settings(slack_webhook_url=fake_slack.webhook_url,
                                             admin_emails=admin_email))
    admin = await register(client, email=admin_email)
    other = await register(client)

    refused = await client.post("/api/admin/alerts/test", headers=other.headers)
    assert_error(refused, 403, "admin_only")
    assert_error(await client.post("/api/admin/alerts/test"), 401)

    response = await client.post("/api/admin/alerts/test", headers=admin.headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["queued"] is True and body["severity"] == "info" and body["delivery"] == "slack"
    await alerts_of(client).drain()
    sent = messages_titled(fake_slack, body["title"])
    assert len(sent) == 1 and "[INFO]" in sent[0]["text"]
    assert response.headers["x-request-id"] in str(sent[0]["attachments"])
