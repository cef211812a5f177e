"""The domain API of SPEC §4: contractors, customers, pricing brain, quotes, invoices."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from tests.helpers import assert_error, make_customer, make_quote, register

CENT = Decimal("0.01")


def check_invariants(doc: dict[str, Any]) -> None:
    amounts = []
    for item in doc["line_items"]:
        expected = (Decimal(item["quantity"]) * Decimal(item["unit_price"])).quantize(CENT, ROUND_HALF_UP)
        assert Decimal(item["amount"]) == expected
        amounts.append(expected)
    assert Decimal(doc["subtotal"]) == sum(amounts, Decimal(0))
    assert Decimal(doc["tax"]) == (Decimal(doc["subtotal"]) * Decimal(doc["tax_rate"])).quantize(CENT, ROUND_HALF_UP)
    assert Decimal(doc["total"]) == Decimal(doc["subtotal"]) + Decimal(doc["tax"])


# -- contractors ---------------------------------------------------------------


async def test_profile_patch_and_terms(client: httpx.AsyncClient) -> None:
    account = await register(client)
    patched = await client.patch("/api/contractors/me", headers=account.headers, json={
        "tax_rate": "0.0825", "phone": "+1 512 555 0100", "currency": "usd",
    })
    assert patched.status_code == 200, patched.text
    assert patched.json()["tax_rate"] == "0.0825" and patched.json()["currency"] == "USD"
    me = (await client.get("/api/contractors/me", headers=account.headers)).json()
    assert me["phone"] == "+1 512 555 0100"
    # A client may PATCH what it just read: read-only fields are ignored.
    again = await client.patch("/api/contractors/me", headers=account.headers, json={**me, "plan": "team"})
    assert again.status_code == 200 and again.json()["plan"] == "trial"
    bad = await client.patch("/api/contractors/me", headers=account.headers, json={"tax_rate": "1.5"})
    assert "tax_rate" in assert_error(bad, 422, "validation_error")["detail"]

    terms = await client.put("/api/contractors/me/terms", headers=account.headers, json={
        "terms_text": "50% deposit, balance on completion.", "deposit_percent": "50.00", "quote_valid_days": 21,
    })
    assert terms.status_code == 200, terms.text
    got = (await client.get("/api/contractors/me/terms", headers=account.headers)).json()
    assert got == {"terms_text": "50% deposit, balance on completion.", "deposit_percent": "50.00",
                   "quote_valid_days": 21}


async def test_contractor_by_id_is_yours_only(client: httpx.AsyncClient) -> None:
    first, second = await register(client), await register(client)
    assert (await client.get(f"/api/contractors/{first.id}", headers=first.headers)).status_code == 200
    assert_error(await client.get(f"/api/contractors/{first.id}", headers=second.headers), 403, "forbidden")


# -- customers -------------------------------------------------------------------


async def test_customer_crud_keeps_names_literally(client: httpx.AsyncClient) -> None:
    account = await register(client)
    name = "<script>alert(1)</script> O'Brien & Søn"
    customer = await make_customer(client, account, name, email="ob@example.com", phone="+1 555 0100")
    assert customer["name"] == name
    got = (await client.get(f"/api/customers/{customer['id']}", headers=account.headers)).json()
    assert got["name"] == name
    patched = await client.patch(f"/api/customers/{customer['id']}", headers=account.headers,
                                 json={"notes": "gate code 1234", **{k: got[k] for k in ("id", "created_at")}})
    assert patched.status_code == 200 and patched.json()["notes"] == "gate code 1234"
    assert (await client.delete(f"/api/customers/{customer['id']}", headers=account.headers)).status_code == 204
    assert_error(await client.get(f"/api/customers/{customer['id']}", headers=account.headers), 404, "not_found")


async def test_customer_list_pages_newest_first_without_repeats(client: httpx.AsyncClient) -> None:
    account = await register(client)
    made = [await make_customer(client, account, f"Customer {i}") for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/customers", params=params, headers=account.headers)).json()
        assert len(page["items"]) <= 3
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [c["id"] for c in reversed(made)]
    assert_error(await client.get("/api/customers", params={"cursor": "garbage!"}, headers=account.headers),
                 422, "validation_error")
    assert_error(await client.get("/api/customers", params={"limit": 101}, headers=account.headers),
                 422, "validation_error")


async def test_customer_search_is_case_insensitive_and_scoped(client: httpx.AsyncClient) -> None:
    mine, theirs = await register(client), await register(client)
    await make_customer(client, mine, "Margaret Thompson", email="mt@example.com")
    await make_customer(client, mine, "Tom Baker", phone="+1 512 555 0199")
    await make_customer(client, mine, "100%_Literal")
    await make_customer(client, theirs, "Thomas Secret")
    names = lambda r: sorted(c["name"] for c in r.json()["items"])  # noqa: E731
    assert names(await client.get("/api/customers/search", params={"q": "THOM"}, headers=mine.headers)) == [
        "Margaret Thompson"]
    assert names(await client.get("/api/customers/search", params={"q": "0199"}, headers=mine.headers)) == [
        "Tom Baker"]
    assert names(await client.get("/api/customers/search", params={"q": "%_"}, headers=mine.headers)) == [
        "100%_Literal"]
    for i in range(12):
        await make_customer(client, mine, f"Bulk {i}")
    bulk = await client.get("/api/customers/search", params={"q": "bulk"}, headers=mine.headers)
    assert len(bulk.json()["items"]) == 10 and "next_cursor" not in bulk.json()
    assert_error(await client.get("/api/customers/search", params={"q": ""}, headers=mine.headers), 422)


# -- pricing brain -------------------------------------------------------------


async def test_new_contractor_starts_with_a_template_for_their_trade(client: httpx.AsyncClient) -> None:
    account = await register(client, trade="painting")
    categories = (await client.get("/api/pricing-brain/categories", headers=account.headers)).json()["items"]
    assert categories, "a new contractor needs a starting template"
    for category in categories:
        assert Decimal(category["labor_rate"]) > 0
    templates = (await client.get("/api/pricing-brain/templates", headers=account.headers)).json()["items"]
    assert {"plumbing", "painting", "electrical"} <= {t["trade"] for t in templates}


async def test_category_upsert_delete_and_settings(client: httpx.AsyncClient) -> None:
    account = await register(client)
    body = {"display_name": "Water heaters", "labor_rate": "110", "markup_percent": 25, "min_charge": "200.00",
            "unit_prices": {"tank_50_gal": "1250.5", "expansion_tank": "85.1234"}, "notes": "gas and electric"}
    created = await client.put("/api/pricing-brain/categories/custom_tanks", headers=account.headers, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["unit_prices"] == {"tank_50_gal": "1250.50", "expansion_tank": "85.1234"}
    replaced = await client.put("/api/pricing-brain/categories/custom_tanks", headers=account.headers,
                                json={**body, "labor_rate": "120.00"})
    assert replaced.status_code == 200 and replaced.json()["labor_rate"] == "120.00"
    bad_key = await client.put("/api/pricing-brain/categories/Bad Key!", headers=account.headers, json=body)
    assert_error(bad_key, 422, "validation_error")
    negative = await client.put("/api/pricing-brain/categories/x", headers=account.headers,
                                json={**body, "unit_prices": {"a": "-1"}})
    assert_error(negative, 422, "validation_error")
    absurd = await client.put("/api/pricing-brain/categories/x", headers=account.headers,
                              json={**body, "labor_rate": "1000000.01"})
    assert_error(absurd, 422, "validation_error")
    gone = await client.delete("/api/pricing-brain/categories/custom_tanks", headers=account.headers)
    assert gone.status_code == 204
    assert_error(await client.delete("/api/pricing-brain/categories/custom_tanks", headers=account.headers), 404)

    settings = await client.put("/api/pricing-brain/settings", headers=account.headers, json={
        "default_labor_rate": "91.50", "default_markup_percent": "17.5", "learning_enabled": False})
    assert settings.json() == {"default_labor_rate": "91.50", "default_markup_percent": "17.50",
                               "learning_enabled": False}
    strict = await client.put("/api/pricing-brain/settings", headers=account.headers, json={
        "default_labor_rate": "91.50", "default_markup_percent": "17.5", "learning_enabled": "yes"})
    assert_error(strict, 422, "validation_error")


# -- quotes ----------------------------------------------------------------------


async def test_generate_edit_and_list_quotes(client: httpx.AsyncClient) -> None:
    account = await register(client)
    await client.patch("/api/contractors/me", headers=account.headers, json={"tax_rate": "0.0825"})
    customer = await make_customer(client, account, "Dana")
    quote = await make_quote(client, account, customer_id=customer["id"])
    assert quote["status"] == "draft" and quote["number"] == "Q-0001" and quote["generated_by"] == "local"
    assert quote["line_items"] and quote["tax_rate"] == "0.0825" and quote["customer_id"] == customer["id"]
    assert quote["confidence"] in ("low", "medium", "high") and isinstance(quote["questions"], list)
    check_invariants(quote)

    first = dict(quote["line_items"][0], quantity="2", unit_price="1.1625", amount="0.01")
    extra = {"name": "Shut-off valve", "quantity": 3, "unit_price": 12.3456, "unit": "each"}
    patched = await client.patch(f"/api/quotes/{quote['id']}", headers=account.headers,
                                 json={**quote, "line_items": [first, extra], "total": "999999.99"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert [i["amount"] for i in body["line_items"]] == ["2.33", "37.04"]
    assert body["subtotal"] == "39.37" and body["tax"] == "3.25" and body["total"] == "42.62"
    check_invariants(body)

    second = await make_quote(client, account, "paint the living room walls and ceiling, about 400 square feet")
    assert second["number"] == "Q-0002"
    listed = (await client.get("/api/quotes", headers=account.headers)).json()
    assert [q["id"] for q in listed["items"]] == [second["id"], quote["id"]]
    by_customer = (await client.get("/api/quotes", params={"customer_id": customer["id"]},
                                    headers=account.headers)).json()
    assert [q["id"] for q in by_customer["items"]] == [quote["id"]]
    drafts = (await client.get("/api/quotes", params={"status": "draft"}, headers=account.headers)).json()
    assert len(drafts["items"]) == 2
    assert_error(await client.get("/api/quotes", params={"status": "bogus"}, headers=account.headers), 422)

    unknown_field = await client.patch(f"/api/quotes/{quote['id']}", headers=account.headers,
                                       json={"notes": "x", "colour": "red"})
    assert "colour" in assert_error(unknown_field, 422, "validation_error")["detail"]
    assert (await client.delete(f"/api/quotes/{second['id']}", headers=account.headers)).status_code == 204
    assert_error(await client.get(f"/api/quotes/{second['id']}", headers=account.headers), 404, "not_found")


async def test_quote_numbers_are_per_contractor(client: httpx.AsyncClient) -> None:
    first, second = await register(client), await register(client)
    assert (await make_quote(client, first))["number"] == "Q-0001"
    assert (await make_quote(client, first))["number"] == "Q-0002"
    assert (await make_quote(client, second))["number"] == "Q-0001"


async def test_quote_with_a_foreign_customer_is_404(client: httpx.AsyncClient) -> None:
    mine, theirs = await register(client), await register(client)
    foreign = await make_customer(client, theirs, "Not yours")
    response = await client.post("/api/quotes/generate", headers=mine.headers,
                                 json={"description": "fix a leaky tap", "customer_id": foreign["id"]})
    assert_error(response, 404, "not_found")


# -- invoices ----------------------------------------------------------------------


async def test_invoice_from_quote_edit_and_mark_paid(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote = await make_quote(client, account)
    created = await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=account.headers)
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert invoice["number"] == "INV-0001" and invoice["status"] == "draft"
    assert invoice["total"] == quote["total"] and invoice["amount_paid"] == "0.00"
    assert_error(await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=account.headers), 409)
    assert_error(await client.delete(f"/api/quotes/{quote['id']}", headers=account.headers), 409, "invalid_state")

    edited = await client.patch(f"/api/invoices/{invoice['id']}", headers=account.headers, json={
        "notes": "Thanks!", "due_date": "2030-01-31",
        "line_items": [{"name": "Service call", "quantity": "1", "unit_price": "100"}]})
    assert edited.status_code == 200, edited.text
    assert edited.json()["total"] == "100.00" and edited.json()["due_date"] == "2030-01-31"

    partial = await client.post(f"/api/invoices/{invoice['id']}/mark-paid", headers=account.headers,
                                json={"amount": "40.00"})
    assert partial.json()["amount_paid"] == "40.00" and partial.json()["status"] == "draft"
    too_much = await client.post(f"/api/invoices/{invoice['id']}/mark-paid", headers=account.headers,
                                 json={"amount": "60.01"})
    assert_error(too_much, 422, "validation_error")
    paid = await client.post(f"/api/invoices/{invoice['id']}/mark-paid", headers=account.headers)
    assert paid.status_code == 200 and paid.json()["status"] == "paid" and paid.json()["amount_paid"] == "100.00"
    assert paid.json()["paid_at"] is not None
    assert_error(await client.post(f"/api/invoices/{invoice['id']}/mark-paid", headers=account.headers), 409,
                 "invalid_state")
    assert_error(await client.delete(f"/api/invoices/{invoice['id']}", headers=account.headers), 409)
    listed = (await client.get("/api/invoices", headers=account.headers)).json()
    assert [i["id"] for i in listed["items"]] == [invoice["id"]]


async def test_get_me_is_byte_for_byte_what_fastapi_serializes(client: httpx.AsyncClient) -> None:
    """GET /me returns a body serialized once per contractor snapshot (backend/api/contractors.py);
    PATCH /me goes through FastAPI's response_model serialization of the same ContractorOut."""
    account = await register(client)
    for change in ({"phone": "+1 512 555 0100"}, {"tax_rate": "0.0825", "business_name": "Ünïcode & Sons"}):
        patched = await client.patch("/api/contractors/me", headers=account.headers, json=change)
        assert patched.status_code == 200, patched.text
        for _ in range(2):  # the second read is the memoised body
            got = await client.get("/api/contractors/me", headers=account.headers)
            assert got.content == patched.content
            assert got.headers["content-type"] == patched.headers["content-type"] == "application/json"
