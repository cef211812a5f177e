"""Quote and invoice PDFs: real PDFs, user text printed literally (SEC-001), totals equal to
the document's, stored through the storage service and rendered again only when needed."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from pypdf import PdfReader

from backend.services import pdf_service
from tests.helpers import Account, make_customer, make_quote, register
from tests.support import s3 as s3_support
from tests.support.s3 import S3Bucket

s3_server = s3_support.s3_server  # fixtures: the moto server and a fresh bucket per test
s3_bucket = s3_support.s3_bucket

SCRIPT_NAME = "<script>alert(1)</script>"


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    parts = urlsplit(url)  # local storage: the app serves its own signed /files/ links
    return await client.get(f"{parts.path}?{parts.query}")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def money(value: str, currency: str = "USD") -> str:
    return f"{currency} {Decimal(value):,.2f}"


async def quote_for(client: httpx.AsyncClient, account: Account, customer_name: str = SCRIPT_NAME,
                    **customer: Any) -> dict[str, Any]:
    await client.patch("/api/contractors/me", headers=account.headers, json={"tax_rate": "0.0825"})
    person = await make_customer(client, account, customer_name, **customer)
    return await make_quote(client, account, customer_id=person["id"])


async def test_quote_pdf_prints_user_text_literally_with_the_quote_totals(client: httpx.AsyncClient) -> None:
    account = await register(client, business_name="Acme <b>Plumbing</b> & Sons")
    terms = await client.put("/api/contractors/me/terms", headers=account.headers, json={
        "terms_text": "Deposit due on acceptance.\n<font size=90>Not markup</font>",
        "deposit_percent": "25.00", "quote_valid_days": 30,
    })
    assert terms.status_code == 200, terms.text
    quote = await quote_for(client, account, email="dana@example.com", address="1 Main St <br/> Austin")

    response = await client.post(f"/api/quotes/{quote['id']}/pdf", headers=account.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    pdf = await fetch(client, body["url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"

    text = pdf_text(pdf.content)
    assert SCRIPT_NAME in text
    assert "Acme <b>Plumbing</b> & Sons" in text
    assert "<font size=90>Not markup</font>" in text
    assert "1 Main St <br/> Austin" in text
    assert quote["number"] in text and quote["title"] in text
    for field in ("subtotal", "tax", "total"):
        assert money(quote[field]) in text, (field, quote[field])
    for item in quote["line_items"]:
        assert money(item["amount"]) in text
    deposit = (Decimal(quote["total"]) * Decimal("0.25")).quantize(Decimal("0.01"))
    assert f"Deposit: 25% ({money(str(deposit))})" in text
    assert "Valid until" in text


async def test_pdf_is_rendered_again_only_when_what_it_shows_changed(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    renders: list[str] = []
    real_render = pdf_service.render_pdf

    def counting_render(content: pdf_service.PdfContent, logo: bytes | None = None) -> bytes:
        renders.append(content.number)
        return real_render(content, logo)

    monkeypatch.setattr(pdf_service, "render_pdf", counting_render)
    account = await register(client)
    quote = await quote_for(client, account, "Pat Customer")
    url = f"/api/quotes/{quote['id']}/pdf"

    first = (await client.post(url, headers=account.headers)).json()
    second = (await client.post(url, headers=account.headers)).json()
    assert len(renders) == 1
    assert urlsplit(first["url"]).path == urlsplit(second["url"]).path
    # Rendering is not an edit: the quote's updated_at did not move.
    after = (await client.get(f"/api/quotes/{quote['id']}", headers=account.headers)).json()
    assert after["updated_at"] == quote["updated_at"]

    patched = await client.patch(f"/api/quotes/{quote['id']}", headers=account.headers, json={"title": "New title"})
    assert patched.status_code == 200
    third = (await client.post(url, headers=account.headers)).json()
    assert len(renders) == 2
    assert urlsplit(third["url"]).path != urlsplit(first["url"]).path
    assert "New title" in pdf_text((await fetch(client, third["url"])).content)
    # The old rendering is gone from storage; its link no longer serves anything.
    assert (await fetch(client, first["url"])).status_code == 404

    # A change outside the quote row (the business name) also shows on the next PDF.
    await client.patch("/api/contractors/me", headers=account.headers, json={"business_name": "Renamed Co"})
    fourth = (await client.post(url, headers=account.headers)).json()
    assert len(renders) == 3
    assert "Renamed Co" in pdf_text((await fetch(client, fourth["url"])).content)


async def test_invoice_pdf_shows_totals_and_balance(client: httpx.AsyncClient) -> None:
    account = await register(client)
    quote = await quote_for(client, account)
    invoice = (await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=account.headers)).json()
    paid = await client.post(f"/api/invoices/{invoice['id']}/mark-paid", headers=account.headers,
                             json={"amount": "10.00"})
    assert paid.status_code == 200, paid.text

    response = await client.post(f"/api/invoices/{invoice['id']}/pdf", headers=account.headers)
    assert response.status_code == 200, response.text
    text = pdf_text((await fetch(client, response.json()["url"])).content)
    assert invoice["number"] in text and SCRIPT_NAME in text
    assert money(invoice["total"]) in text
    assert "Balance due" in text and money(str(Decimal(invoice["total"]) - Decimal("10.00"))) in text
    assert "Due date" in text


async def test_pdf_carries_the_logo(client: httpx.AsyncClient) -> None:
    account = await register(client)
    image = io.BytesIO()
    Image.new("RGB", (300, 120), (200, 30, 30)).save(image, "PNG")
    uploaded = await client.post("/api/contractors/me/logo", headers=account.headers,
                                 files={"file": ("logo.png", image.getvalue(), "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    quote = await quote_for(client, account)
    response = await client.post(f"/api/quotes/{quote['id']}/pdf", headers=account.headers)
    reader = PdfReader(io.BytesIO((await fetch(client, response.json()["url"])).content))
    assert len(reader.pages[0].images) == 1


def test_a_broken_logo_still_renders_the_pdf() -> None:
    content = pdf_service.PdfContent(
        kind="quote", number="Q-0001", title="t", issued_on="January 1, 2026", dates=(),
        business_name="B", business_phone="", business_address="", customer_name="", customer_email="",
        customer_phone="", customer_address="", currency="USD", lines=(),
        totals=(("Total", "USD 0.00"),), terms_text="", deposit_percent="", deposit_amount="", logo_key="k",
    )
    data = pdf_service.render_pdf(content, b"\x89PNG\r\n\x1a\nnot really a png")
    assert data.startswith(b"%PDF") and len(PdfReader(io.BytesIO(data)).pages[0].images) == 0


async def test_pdf_of_a_foreign_or_missing_document_is_404(client: httpx.AsyncClient) -> None:
    owner, intruder = await register(client), await register(client)
    quote = await quote_for(client, owner)
    invoice = (await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=owner.headers)).json()
    for path in (f"/api/quotes/{quote['id']}/pdf", f"/api/invoices/{invoice['id']}/pdf"):
        response = await client.post(path, headers=intruder.headers)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert (await client.post(f"/api/quotes/{quote['id']}/pdf")).status_code == 401


async def test_with_s3_storage_the_pdf_link_points_at_the_bucket(
    make_client: Any, make_settings: Any, s3_bucket: S3Bucket,
) -> None:
    client = await make_client(make_settings(**s3_bucket.settings()))
    account = await register(client)
    quote = await quote_for(client, account)
    link = (await client.post(f"/api/quotes/{quote['id']}/pdf", headers=account.headers)).json()["url"]
    assert link.startswith(f"{s3_bucket.endpoint_url}/{s3_bucket.name}/contractors/{account.id}/pdfs/")
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        pdf = await http.get(link)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert SCRIPT_NAME in pdf_text(pdf.content)
    assert s3_bucket.keys() == [urlsplit(link).path.split(f"/{s3_bucket.name}/", 1)[1]]
