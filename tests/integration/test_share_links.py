"""Public share links: issue, view (marks viewed, no internal ids), accept/reject with their
409s, replace, revoke, unknown tokens, invoices, and a second contractor shut out."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from backend.models import Invoice, Quote
from tests.helpers import Account, assert_error, make_customer, make_quote, register

PUBLIC_BASE_URL = "http://localhost:8000"  # the settings' default


async def shared_quote(client: httpx.AsyncClient, account: Account,
                       customer_name: str = "Dana Customer") -> tuple[dict[str, Any], str]:
    customer = await make_customer(client, account, customer_name)
    quote = await make_quote(client, account, customer_id=customer["id"])
    response = await client.post(f"/api/quotes/{quote['id']}/share", headers=account.headers)
    assert response.status_code == 200, response.text
    return quote, response.json()["token"]


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id")
    return body


async def test_share_issues_a_long_random_token_stored_only_as_its_hash(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote = await make_quote(client, account)
    response = await client.post(f"/api/quotes/{quote['id']}/share", headers=account.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    token = body["token"]
    assert len(token) >= 43  # token_urlsafe(32): 256 random bits
    assert body["url"] == f"{PUBLIC_BASE_URL}/q/{token}"

    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        stored = await session.scalar(select(Quote.share_token_hash).where(Quote.id == uuid.UUID(quote["id"])))
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    # Issuing a link is not an edit of the quote.
    again = (await client.get(f"/api/quotes/{quote['id']}", headers=account.headers)).json()
    assert again["updated_at"] == quote["updated_at"]


async def test_customer_view_marks_viewed_and_reveals_no_internal_ids(client: httpx.AsyncClient) -> None:
    account = await register(client, business_name="Acme Plumbing")
    await client.patch("/api/contractors/me", headers=account.headers,
                       json={"phone": "+1 512 555 0100", "address": "12 Pipe Rd"})
    await client.put("/api/contractors/me/terms", headers=account.headers, json={
        "terms_text": "Half up front.", "deposit_percent": "50.00", "quote_valid_days": 30,
    })
    quote, token = await shared_quote(client, account, "<script>alert(1)</script>")

    response = await client.get(f"/api/quotes/shared/{token}")  # no Authorization header
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "viewed"
    assert view["business"] == {"name": "Acme Plumbing", "phone": "+1 512 555 0100", "address": "12 Pipe Rd"}
    assert view["customer_name"] == "<script>alert(1)</script>"
    assert view["number"] == quote["number"] and view["title"] == quote["title"]
    for field in ("subtotal", "tax_rate", "tax", "total", "currency", "valid_until"):
        assert view[field] == quote[field], field
    assert [item["amount"] for item in view["line_items"]] == [item["amount"] for item in quote["line_items"]]
    assert view["terms"]["text"] == "Half up front." and view["terms"]["deposit_percent"] == "50.00"

    text = response.text
    for secret in (quote["id"], account.id, quote["customer_id"], account.email):
        assert secret not in text, secret
    assert "contractor_id" not in text and '"id"' not in text

    owner_view = (await client.get(f"/api/quotes/{quote['id']}", headers=account.headers)).json()
    assert owner_view["status"] == "viewed"


async def test_accept_then_every_second_answer_is_409(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote, token = await shared_quote(client, account)

    accepted = await client.post(f"/api/quotes/shared/{token}/accept", json={"name": "Dana Q. Customer"})
    assert accepted.status_code == 200, accepted.text
    view = accepted.json()
    assert view["status"] == "accepted" and view["accepted_by_name"] == "Dana Q. Customer"
    assert view["accepted_at"] is not None and view["rejected_at"] is None

    again = assert_error(await client.post(f"/api/quotes/shared/{token}/accept", json={"name": "Dana"}),
                         409, "invalid_state")
    assert "already accepted" in again["detail"]
    late_reject = assert_error(await client.post(f"/api/quotes/shared/{token}/reject", json={"reason": "no"}),
                               409, "invalid_state")
    assert "already accepted" in late_reject["detail"]

    # Viewing an accepted quote does not turn it back into "viewed".
    assert (await client.get(f"/api/quotes/shared/{token}")).json()["status"] == "accepted"
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        row = (await session.execute(select(Quote).where(Quote.id == uuid.UUID(quote["id"])))).scalar_one()
    assert row.status == "accepted" and row.accepted_by_name == "Dana Q. Customer" and row.accepted_at
    assert row.viewed_at is not None


async def test_reject_then_accept_is_409(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote, token = await shared_quote(client, account)

    rejected = await client.post(f"/api/quotes/shared/{token}/reject", json={"reason": "Too expensive"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected" and rejected.json()["rejected_at"]

    late_accept = assert_error(await client.post(f"/api/quotes/shared/{token}/accept", json={"name": "Dana"}),
                               409, "invalid_state")
    assert "declined" in late_accept["detail"]
    assert_error(await client.post(f"/api/quotes/shared/{token}/reject"), 409, "invalid_state")

    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        row = (await session.execute(select(Quote).where(Quote.id == uuid.UUID(quote["id"])))).scalar_one()
    assert row.rejection_reason == "Too expensive" and row.rejected_at is not None


async def test_reject_needs_no_body_and_accept_needs_a_name(client: httpx.AsyncClient) -> None:
    account = await register(client)
    _, token = await shared_quote(client, account)
    assert_error(await client.post(f"/api/quotes/shared/{token}/accept", json={}), 422, "validation_error")
    assert_error(await client.post(f"/api/quotes/shared/{token}/accept", json={"name": "   "}), 422)
    assert_error(await client.post(f"/api/quotes/shared/{token}/accept", json={"name": "x", "id": "y"}), 422)
    rejected = await client.post(f"/api/quotes/shared/{token}/reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"


async def test_an_expired_quote_cannot_be_accepted(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote, token = await shared_quote(client, account)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    await client.patch(f"/api/quotes/{quote['id']}", headers=account.headers, json={"valid_until": yesterday})
    body = assert_error(await client.post(f"/api/quotes/shared/{token}/accept", json={"name": "Dana"}),
                        409, "invalid_state")
    assert "expired" in body["detail"]


async def test_sharing_again_replaces_the_link_and_revoking_kills_it(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote, first = await shared_quote(client, account)
    second = (await client.post(f"/api/quotes/{quote['id']}/share", headers=account.headers)).json()["token"]
    assert second != first
    unknown = await client.get("/api/quotes/shared/" + "A" * 43)
    assert_error(unknown, 404, "not_found")
    replaced = await client.get(f"/api/quotes/shared/{first}")
    assert without_request_id(replaced) == without_request_id(unknown)
    assert (await client.get(f"/api/quotes/shared/{second}")).status_code == 200

    revoked = await client.delete(f"/api/quotes/{quote['id']}/share", headers=account.headers)
    assert revoked.status_code == 204
    for path in (f"/api/quotes/shared/{second}", f"/api/quotes/shared/{second}/accept"):
        method = "GET" if path.endswith(second) else "POST"
        response = await client.request(method, path, json={"name": "Dana"} if method == "POST" else None)
        assert without_request_id(response) == without_request_id(unknown)
    # Revoking twice is harmless.
    assert (await client.delete(f"/api/quotes/{quote['id']}/share", headers=account.headers)).status_code == 204


async def test_unknown_and_malformed_tokens_are_the_same_404(client: httpx.AsyncClient) -> None:
    reference = without_request_id(await client.get("/api/quotes/shared/" + "B" * 43))
    assert reference["code"] == "not_found"
    for token in ("short", "x" * 150, "A" * 42 + "!", "%2E%2E", "%00" * 20):
        assert without_request_id(await client.get(f"/api/quotes/shared/{token}")) == reference, token
    assert_error(await client.get("/api/quotes/shared/" + "x" * 201), 422, "validation_error")
    assert (await client.get("/api/invoices/shared/" + "C" * 43)).status_code == 404


async def test_invoice_share_is_a_view_only_link(client: httpx.AsyncClient) -> None:
    account = await register(client, business_name="Acme Plumbing")
    customer = await make_customer(client, account, "Dana Customer")
    quote = await make_quote(client, account, customer_id=customer["id"])
    invoice = (await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=account.headers)).json()

    response = await client.post(f"/api/invoices/{invoice['id']}/share", headers=account.headers)
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert response.json()["url"] == f"{PUBLIC_BASE_URL}/i/{token}"

    view = await client.get(f"/api/invoices/shared/{token}")
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["number"] == invoice["number"] and body["total"] == invoice["total"]
    assert body["balance_due"] == invoice["total"] and body["customer_name"] == "Dana Customer"
    assert body["business"]["name"] == "Acme Plumbing" and body["status"] == "draft"
    for secret in (invoice["id"], quote["id"], account.id, customer["id"], account.email):
        assert secret not in view.text
    # A quote token is not an invoice token, and invoices have no accept.
    assert (await client.get(f"/api/quotes/shared/{token}")).status_code == 404
    assert (await client.post(f"/api/invoices/shared/{token}/accept", json={"name": "x"})).status_code in (404, 405)

    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        stored = await session.scalar(select(Invoice.share_token_hash).where(Invoice.id == uuid.UUID(invoice["id"])))
    assert stored == hashlib.sha256(token.encode()).hexdigest()

    assert (await client.delete(f"/api/invoices/{invoice['id']}/share", headers=account.headers)).status_code == 204
    assert_error(await client.get(f"/api/invoices/shared/{token}"), 404, "not_found")


async def test_second_contractor_gets_404_on_the_first_ones_pdf_and_share_endpoints(
    client: httpx.AsyncClient,
) -> None:
    owner, intruder = await register(client), await register(client)
    quote, token = await shared_quote(client, owner)
    invoice = (await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=owner.headers)).json()
    for method, path in (
        ("POST", f"/api/quotes/{quote['id']}/share"),
        ("DELETE", f"/api/quotes/{quote['id']}/share"),
        ("POST", f"/api/quotes/{quote['id']}/pdf"),
        ("POST", f"/api/invoices/{invoice['id']}/share"),
        ("DELETE", f"/api/invoices/{invoice['id']}/share"),
        ("POST", f"/api/invoices/{invoice['id']}/pdf"),
    ):
        assert_error(await client.request(method, path, headers=intruder.headers), 404, "not_found")
    # The owner's link still works: the intruder's DELETE did nothing.
    assert (await client.get(f"/api/quotes/shared/{token}")).status_code == 200


async def test_a_second_contractor_cannot_obtain_a_working_url_for_the_first_ones_pdf(
    client: httpx.AsyncClient,
) -> None:
    from urllib.parse import parse_qs, urlsplit

    owner, intruder = await register(client), await register(client)
    owner_quote = await make_quote(client, owner)
    intruder_quote = await make_quote(client, intruder)
    owner_url = (await client.post(f"/api/quotes/{owner_quote['id']}/pdf", headers=owner.headers)).json()["url"]
    intruder_url = (await client.post(f"/api/quotes/{intruder_quote['id']}/pdf",
                                      headers=intruder.headers)).json()["url"]
    owner_path, intruder_parts = urlsplit(owner_url).path, urlsplit(intruder_url)
    # Every key the intruder's requests produce is in the intruder's namespace.
    assert intruder_parts.path.startswith(f"/files/contractors/{intruder.id}/pdfs/")
    assert owner_path.startswith(f"/files/contractors/{owner.id}/pdfs/")
    # The intruder's valid signature does not open the owner's key; neither does no signature.
    assert_error(await client.get(f"{owner_path}?{intruder_parts.query}"), 403, "forbidden")
    assert_error(await client.get(owner_path), 403, "forbidden")
    query = parse_qs(intruder_parts.query)
    assert_error(await client.get(f"{owner_path}?expires={query['expires'][0]}&signature={'0' * 64}"), 403)


def test_share_tokens_and_file_signatures_never_reach_the_logs() -> None:
    from backend.core.logging import redact_text

    token = "Qx7_" + "a" * 39
    assert token not in redact_text(f"GET /api/quotes/shared/{token}/accept 200")
    assert redact_text(f"/api/invoices/shared/{token}") == "/api/invoices/shared/[redacted]"
    line = redact_text('"GET /files/contractors/x/pdfs/q.pdf?expires=1795602033&signature=beefb068 HTTP/1.1"')
    assert "beefb068" not in line and "expires=1795602033" in line
