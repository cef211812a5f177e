"""Issue #7: the pricing brain learns from price edits; quotes carry days, crew, confidence and questions."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from backend.config import Settings
from backend.services.pricing_learning import ALPHA, learned_value
from tests.fakes.anthropic import VALID_TOOL_INPUT, FakeAnthropic
from tests.helpers import Account, assert_error, make_quote, register
from tests.support.vendor_helpers import vendor_settings

OUTLETS = "replace 3 outlets in the kitchen"
CATEGORY = "electrical_devices"
ITEM = "receptacle"


async def _electrician(client: httpx.AsyncClient) -> Account:
    return await register(client, trade="electrical", business_name="Volt Electric")


def _line(quote: dict[str, Any], *, item: str | None = ITEM, unit: str | None = None) -> dict[str, Any]:
    return next(line for line in quote["line_items"]
                if line["category"] == CATEGORY and (line["item"] == item if unit is None else line["unit"] == unit))


async def _patch_price(client: httpx.AsyncClient, account: Account, quote: dict[str, Any], price: str, *,
                       unit: str | None = None) -> dict[str, Any]:
    """PATCH the quote back as the web app does (no ``item`` key), with one line's price changed."""
    target = _line(quote, unit=unit) if unit else _line(quote)
    lines = []
    for line in quote["line_items"]:
        sent = {k: v for k, v in line.items() if k not in ("item", "amount")}
        if line is target:
            sent["unit_price"] = price
        lines.append(sent)
    response = await client.patch(f"/api/quotes/{quote['id']}", json={"line_items": lines},
                                  headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _stored_price(client: httpx.AsyncClient, account: Account, item: str = ITEM) -> Decimal:
    categories = (await client.get("/api/pricing-brain/categories", headers=account.headers)).json()["items"]
    category = next(c for c in categories if c["key"] == CATEGORY)
    return Decimal(category["unit_prices"][item] if item != "labor_rate" else category["labor_rate"])


async def _adjustments(client: httpx.AsyncClient, account: Account, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/pricing-brain/adjustments", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_rule_moves_half_way_rounded_half_up_to_four_places() -> None:
    assert ALPHA == Decimal("0.5")
    assert learned_value(Decimal("9.00"), Decimal("15.00")) == Decimal("12.0000")
    assert learned_value(Decimal("0.0001"), Decimal("0.0002")) == Decimal("0.0002")  # 0.00015 rounds up
    assert learned_value(Decimal("105"), Decimal("80")) == Decimal("92.5000")


async def test_price_edit_moves_the_next_quote_by_the_rule_and_leaves_other_contractors_alone(
        client: httpx.AsyncClient) -> None:
    account, other = await _electrician(client), await _electrician(client)
    first = await make_quote(client, account, OUTLETS)
    x = Decimal(_line(first)["unit_price"])
    # Warm the categories cache: the learned price must invalidate it.
    assert await _stored_price(client, account) == x

    edited = await _patch_price(client, account, first, "15.00")
    assert _line(edited)["unit_price"] == "15.00"  # the item key survives an edit that did not send it

    expected = learned_value(x, Decimal("15.00"))
    assert expected != x
    again = await make_quote(client, account, OUTLETS)
    assert Decimal(_line(again)["unit_price"]) == expected
    assert await _stored_price(client, account) == expected
    theirs = await make_quote(client, other, OUTLETS)
    assert Decimal(_line(theirs)["unit_price"]) == x
    assert (await _adjustments(client, other))["items"] == []


async def test_labour_edit_moves_the_category_labour_rate(client: httpx.AsyncClient) -> None:
    account = await _electrician(client)
    quote = await make_quote(client, account, OUTLETS)
    rate = Decimal(_line(quote, item=None, unit="hour")["unit_price"])
    await _patch_price(client, account, quote, "80.00", unit="hour")
    assert await _stored_price(client, account, "labor_rate") == learned_value(rate, Decimal("80.00"))
    (adjustment,) = (await _adjustments(client, account))["items"]
    assert adjustment["field"] == "labor_rate" and adjustment["item"] is None


async def test_nothing_is_learned_when_learning_is_off(client: httpx.AsyncClient) -> None:
    account = await _electrician(client)
    settings = (await client.get("/api/pricing-brain/settings", headers=account.headers)).json()
    put = await client.put("/api/pricing-brain/settings", json={**settings, "learning_enabled": False},
                           headers=account.headers)
    assert put.status_code == 200, put.text
    first = await make_quote(client, account, OUTLETS)
    x = _line(first)["unit_price"]
    await _patch_price(client, account, first, "15.00")
    assert _line(await make_quote(client, account, OUTLETS))["unit_price"] == x
    assert (await _adjustments(client, account))["items"] == []


async def test_unknown_category_and_foreign_quote_teach_nothing(client: httpx.AsyncClient) -> None:
    account, other = await _electrician(client), await _electrician(client)
    quote = await make_quote(client, account, OUTLETS)
    x = await _stored_price(client, account)
    lines = [{**{k: v for k, v in line.items() if k != "item"}, "category": "no_such_category",
              "unit_price": "55.00"} for line in quote["line_items"]]
    response = await client.patch(f"/api/quotes/{quote['id']}", json={"line_items": lines}, headers=account.headers)
    assert response.status_code == 200, response.text
    foreign = await client.patch(f"/api/quotes/{quote['id']}", json={"line_items": lines}, headers=other.headers)
    assert_error(foreign, 404, "not_found")
    assert await _stored_price(client, account) == x
    assert (await _adjustments(client, account))["items"] == []


async def test_adjustments_list_and_revert_restores_the_previous_price(client: httpx.AsyncClient) -> None:
    account, other = await _electrician(client), await _electrician(client)
    quote = await make_quote(client, account, OUTLETS)
    x = Decimal(_line(quote)["unit_price"])
    await _patch_price(client, account, quote, "15.00")

    page = await _adjustments(client, account)
    assert page["next_cursor"] is None
    (adjustment,) = page["items"]
    assert adjustment["category"] == CATEGORY and adjustment["item"] == ITEM
    assert adjustment["field"] == "unit_price" and adjustment["quote_id"] == quote["id"]
    assert Decimal(adjustment["old_price"]) == x and adjustment["new_price"] == "15.00"
    assert Decimal(adjustment["stored_before"]) == x
    assert Decimal(adjustment["stored_after"]) == learned_value(x, Decimal("15.00"))
    assert adjustment["created_at"] and adjustment["reverted_at"] is None

    url = f"/api/pricing-brain/adjustments/{adjustment['id']}/revert"
    assert_error(await client.post(url, headers=other.headers), 404, "not_found")
    reverted = await client.post(url, headers=account.headers)
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["id"] == adjustment["id"] and reverted.json()["reverted_at"]
    assert await _stored_price(client, account) == x
    assert Decimal(_line(await make_quote(client, account, OUTLETS))["unit_price"]) == x
    assert_error(await client.post(url, headers=account.headers), 409, "invalid_state")
    assert (await _adjustments(client, account))["items"][0]["reverted_at"] is not None


async def test_revert_after_a_later_change_takes_off_only_its_own_delta(client: httpx.AsyncClient) -> None:
    account = await _electrician(client)
    first, second = await make_quote(client, account, OUTLETS), await make_quote(client, account, OUTLETS)
    x = Decimal(_line(first)["unit_price"])
    await _patch_price(client, account, first, "15.00")
    await _patch_price(client, account, second, "25.00")
    older, newer = sorted((await _adjustments(client, account))["items"], key=lambda a: a["created_at"])
    assert Decimal(newer["stored_before"]) == Decimal(older["stored_after"])
    response = await client.post(f"/api/pricing-brain/adjustments/{older['id']}/revert", headers=account.headers)
    assert response.status_code == 200, response.text
    delta = Decimal(older["stored_after"]) - Decimal(older["stored_before"])
    assert await _stored_price(client, account) == Decimal(newer["stored_after"]) - delta
    assert delta == learned_value(x, Decimal("15.00")) - x


async def test_adjustments_are_keyset_paginated_newest_first(client: httpx.AsyncClient) -> None:
    account = await _electrician(client)
    for price in ("11.00", "12.00", "13.00"):
        await _patch_price(client, account, await make_quote(client, account, OUTLETS), price)
    first = await _adjustments(client, account, limit=2)
    assert [a["new_price"] for a in first["items"]] == ["13.00", "12.00"] and first["next_cursor"]
    rest = await _adjustments(client, account, limit=2, cursor=first["next_cursor"])
    assert [a["new_price"] for a in rest["items"]] == ["11.00"] and rest["next_cursor"] is None


async def test_twenty_concurrent_edits_lose_no_update(make_client: Callable[..., Any],
                                                      make_settings: Callable[..., Any]) -> None:
    # 20 quotes are more than a trial allows (PAY-001's quota, when it is in this tree).
    overrides = {"trial_quotes": 100} if "trial_quotes" in Settings.model_fields else {}
    client = await make_client(make_settings(**overrides))
    account = await _electrician(client)
    quotes = [await make_quote(client, account, OUTLETS) for _ in range(20)]
    x = await _stored_price(client, account)
    prices = [f"{10 + i}.{i:02d}" for i in range(20)]
    await asyncio.gather(*(_patch_price(client, account, q, p) for q, p in zip(quotes, prices, strict=True)))

    rows = (await _adjustments(client, account, limit=100))["items"]
    assert len(rows) == 20
    assert sorted(r["new_price"] for r in rows) == sorted(prices)
    value = x
    for row in sorted(rows, key=lambda r: (r["created_at"], r["id"])):  # the recorded order
        assert Decimal(row["stored_before"]) == value  # each applied to the value the previous one left
        value = learned_value(value, Decimal(row["new_price"]))
        assert Decimal(row["stored_after"]) == value
    assert await _stored_price(client, account) == value


def _check_rich_fields(quote: dict[str, Any]) -> None:
    assert isinstance(quote["estimated_days"], int) and quote["estimated_days"] >= 0
    assert isinstance(quote["crew_size"], int) and quote["crew_size"] >= 1
    assert quote["confidence"] in ("low", "medium", "high")
    assert isinstance(quote["questions"], list) and all(isinstance(q, str) for q in quote["questions"])


async def test_local_quote_carries_days_crew_confidence_and_questions(client: httpx.AsyncClient) -> None:
    account = await _electrician(client)
    quote = await make_quote(client, account, OUTLETS)
    assert quote["generated_by"] == "local"
    _check_rich_fields(quote)
    vague = await make_quote(client, account, "fix the thing at the back, not sure what is wrong")
    _check_rich_fields(vague)
    assert vague["questions"] and vague["confidence"] == "low"
    stored = (await client.get(f"/api/quotes/{quote['id']}", headers=account.headers)).json()
    assert {k: stored[k] for k in ("estimated_days", "crew_size", "confidence", "questions")} == \
        {k: quote[k] for k in ("estimated_days", "crew_size", "confidence", "questions")}


@pytest.mark.slow
async def test_claude_quote_carries_rich_fields_and_its_edits_reach_the_next_prompt(
        make_client: Callable[..., Any], make_settings: Callable[..., Any], fake_claude: FakeAnthropic) -> None:
    client = await make_client(vendor_settings(make_settings, claude=fake_claude, outbox_backoff_seconds=60))
    account = await _electrician(client)
    x = await _stored_price(client, account)
    tool_input = copy.deepcopy(VALID_TOOL_INPUT)
    # Claude names the item it priced from; a line without one is found by its (unique) stored price.
    tool_input["line_items"] = [
        {"name": "Outlet", "category": CATEGORY, "item": ITEM, "quantity": 3, "unit": "each", "unit_price": float(x)},
        {"name": "GFCI outlet", "category": CATEGORY, "quantity": 1, "unit": "each", "unit_price": 32},
        {"name": "Mystery part", "category": CATEGORY, "item": "unobtainium", "quantity": 1, "unit": "each",
         "unit_price": 1},
    ]
    fake_claude.tool_input = tool_input

    response = await client.post("/api/quotes/generate", json={"description": OUTLETS}, headers=account.headers)
    assert response.status_code == 201, response.text
    quote = response.json()
    assert quote["generated_by"] == "claude"
    _check_rich_fields(quote)
    assert (quote["estimated_days"], quote["crew_size"], quote["confidence"], quote["questions"]) == (
        1, 1, "high", VALID_TOOL_INPUT["questions"])

    assert [line["item"] for line in quote["line_items"]] == [ITEM, None, None]  # unknown keys are dropped
    sent = [{k: v for k, v in line.items() if k not in ("item", "amount")} | {"unit_price": price}
            for line, price in zip(quote["line_items"], ("15", "40", "2"), strict=True)]
    patched = await client.patch(f"/api/quotes/{quote['id']}", json={"line_items": sent}, headers=account.headers)
    assert patched.status_code == 200, patched.text
    learned = learned_value(x, Decimal("15"))
    assert await _stored_price(client, account) == learned
    assert await _stored_price(client, account, "gfci_receptacle") == learned_value(Decimal("32"), Decimal("40"))
    assert len((await _adjustments(client, account))["items"]) == 2

    again = await client.post("/api/quotes/generate", json={"description": OUTLETS}, headers=account.headers)
    assert again.status_code == 201, again.text
    prompt = fake_claude.message_calls()[-1].json["system"]
    assert f"{ITEM}: {learned:.2f} per unit" in prompt
