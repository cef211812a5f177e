"""INFRA-006: Claude through the fake Anthropic server — retries, forced tool output, server-side totals."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fakes.anthropic import API_KEY, MALFORMED_VARIANTS, VALID_SUBTOTAL, VALID_TOOL_INPUT, FakeAnthropic
from tests.fakes.server import Reply
from tests.helpers import register
from tests.support.logs import capture_logs
from tests.support.vendor_helpers import vendor_settings, wait_quote

pytestmark = pytest.mark.slow

DESCRIPTION = "replace the kitchen faucet, new supply lines, haul away the old one"


async def _client(make_client: Callable[..., Any], make_settings: Callable[..., Any], fake: FakeAnthropic,
                  **overrides: Any) -> httpx.AsyncClient:
    # A long outbox back-off: the dispatcher stays out of the way unless a test wants it.
    values: dict[str, Any] = {"outbox_backoff_seconds": 60, "breaker_failure_threshold": 100, **overrides}
    return await make_client(vendor_settings(make_settings, claude=fake, **values))  # type: ignore[no-any-return]


async def test_two_server_errors_then_success_make_one_quote_in_three_calls(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic) -> None:
    client = await _client(make_client, make_settings, fake_claude)
    account = await register(client)
    fake_claude.script(Reply.error(500), Reply.error(500))
    with capture_logs() as logs:
        response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION},
                                     headers=account.headers)
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["status"] == "draft" and quote["generated_by"] == "claude"
    assert quote["subtotal"] == VALID_SUBTOTAL
    assert [line["amount"] for line in quote["line_items"]] == ["185.00", "237.50"]
    assert quote["title"] == VALID_TOOL_INPUT["title"] and quote["confidence"] == "high"
    assert quote["questions"] == VALID_TOOL_INPUT["questions"]
    assert len(fake_claude.message_calls()) == 3
    retries = logs.events("vendor.retry")
    assert [(r["vendor"], r["attempt"], r["status"]) for r in retries] == [("claude", 1, 500), ("claude", 2, 500)]
    assert all(isinstance(r["wait"], float | int) for r in retries)
    listed = await client.get("/api/quotes", headers=account.headers)
    assert len(listed.json()["items"]) == 1


async def test_request_is_a_forced_tool_call_priced_with_the_contractors_brain(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic) -> None:
    client = await _client(make_client, make_settings, fake_claude)
    account = await register(client, trade="plumbing")
    # A learned price must reach the prompt.
    categories = (await client.get("/api/pricing-brain/categories", headers=account.headers)).json()["items"]
    category = categories[0]
    body = {k: category[k] for k in ("display_name", "labor_rate", "markup_percent", "min_charge", "notes")}
    body["unit_prices"] = {**category["unit_prices"], "gold_plated_tap": "987.65"}
    put = await client.put(f"/api/pricing-brain/categories/{category['key']}", json=body, headers=account.headers)
    assert put.status_code in (200, 201), put.text
    customer = (await client.post("/api/customers", json={"name": "Dana Whitfield"}, headers=account.headers)).json()

    response = await client.post("/api/quotes/generate", headers=account.headers, json={
        "description": DESCRIPTION, "customer_id": customer["id"], "job_type": "repair"})
    assert response.status_code == 201, response.text

    (call,) = fake_claude.message_calls()
    assert call.headers["x-api-key"] == API_KEY and call.headers["anthropic-version"] == "2023-06-01"
    payload = call.json
    assert payload["tool_choice"] == {"type": "tool", "name": "record_quote"}
    assert [tool["name"] for tool in payload["tools"]] == ["record_quote"]
    assert "line_items" in payload["tools"][0]["input_schema"]["properties"]
    assert "gold_plated_tap: 987.65" in payload["system"] and category["key"] in payload["system"]
    user = payload["messages"][0]["content"]
    assert DESCRIPTION in user and "Dana Whitfield" in user and "repair" in user


async def test_client_error_is_not_retried(make_client: Callable[..., Any], make_settings: Callable[..., Any],
                                           fake_claude: FakeAnthropic) -> None:
    client = await _client(make_client, make_settings, fake_claude)
    account = await register(client)
    fake_claude.script(Reply.error(400))
    with capture_logs() as logs:
        response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION},
                                     headers=account.headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    assert len(fake_claude.message_calls()) == 1
    assert logs.events("vendor.retry") == []
    # A 400 is our bug, not an outage: the breaker does not count it.
    assert client.app.state.vendors.breakers["claude"].failure_count == 0  # type: ignore[attr-defined]


async def test_rate_limit_waits_for_retry_after(make_client: Callable[..., Any], make_settings: Callable[..., Any],
                                                fake_claude: FakeAnthropic) -> None:
    client = await _client(make_client, make_settings, fake_claude)
    account = await register(client)
    fake_claude.script(Reply.rate_limited(retry_after=1))
    response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    assert response.status_code == 201, response.text
    first, second = fake_claude.message_calls()
    # RETRY_BACKOFF_SCALE is 0.001, so only the header explains a one-second gap.
    assert second.at - first.at >= 0.95


@pytest.mark.parametrize("status", [529, 503])
async def test_overloaded_and_unavailable_are_retried(make_client: Callable[..., Any],
                                                      make_settings: Callable[..., Any],
                                                      fake_claude: FakeAnthropic, status: int) -> None:
    client = await _client(make_client, make_settings, fake_claude)
    account = await register(client)
    fake_claude.script(Reply.error(status))
    response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    assert response.status_code == 201, response.text
    assert len(fake_claude.message_calls()) == 2


async def test_three_failures_give_up_with_a_plain_processing_quote(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic) -> None:
    client = await _client(make_client, make_settings, fake_claude)
    account = await register(client)
    fake_claude.always(Reply.error(529))
    response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    assert response.status_code == 202, response.text
    quote = response.json()
    assert quote["status"] == "processing" and quote["error"] is None and quote["line_items"] == []
    assert quote["description"] == DESCRIPTION
    # The vendor's words and status stay out of the body (as a word: a timestamp's digits may hold "529").
    assert "overloaded" not in response.text and re.search(r"\b529\b", response.text) is None
    assert len(fake_claude.message_calls()) == 3


@pytest.mark.parametrize("variant", MALFORMED_VARIANTS)
async def test_malformed_tool_output_never_makes_a_quote(make_client: Callable[..., Any],
                                                        make_settings: Callable[..., Any],
                                                        fake_claude: FakeAnthropic, variant: str) -> None:
    client = await _client(make_client, make_settings, fake_claude, outbox_backoff_seconds=0.2)
    account = await register(client)
    fake_claude.script(Reply.malformed(variant=variant))
    response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    assert response.status_code == 202, response.text
    quote = response.json()
    assert quote["status"] == "processing" and quote["line_items"] == [] and quote["total"] == "0.00"
    assert len(fake_claude.message_calls()) == 1  # an invalid answer is not retried at once...
    assert client.app.state.vendors.breakers["claude"].failure_count == 1  # type: ignore[attr-defined]
    # ...the outbox asks again, and the good answer is priced by the server.
    done = await wait_quote(client, account, quote["id"], "draft")
    assert done["subtotal"] == VALID_SUBTOTAL and len(done["line_items"]) == 2


async def test_totals_from_the_model_are_ignored(make_client: Callable[..., Any], make_settings: Callable[..., Any],
                                                 fake_claude: FakeAnthropic) -> None:
    client = await _client(make_client, make_settings, fake_claude)
    account = await register(client)
    lying = {**VALID_TOOL_INPUT, "subtotal": 5, "total": 7,
             "line_items": [{**line, "amount": 1} for line in VALID_TOOL_INPUT["line_items"]]}
    fake_claude.script(Reply.ok(tool_input=lying))
    response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    assert response.status_code == 201, response.text
    assert response.json()["subtotal"] == VALID_SUBTOTAL


async def test_without_an_anthropic_key_the_local_estimator_answers(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post("/api/quotes/generate", json={"description": DESCRIPTION}, headers=account.headers)
    assert response.status_code == 201, response.text
    assert response.json()["generated_by"] == "local" and response.json()["status"] == "draft"
