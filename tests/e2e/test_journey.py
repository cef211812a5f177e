"""The contractor's whole journey in a real browser, with hostile customer names.

register → customer → quote from text → edit a line → PDF → share link opened
by the customer in a fresh browser → accept → invoice → mark paid. Customer
names that are HTML must show as text everywhere and never run; no CSP
violation may be reported on the way (SEC-001).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, XSS_NAMES, Server, shot, unique_email

pytestmark = pytest.mark.slow


def register(page: Page, business: str, email: str, password: str = "correct-horse-battery") -> None:
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Business name").fill(business)
    page.get_by_label("Trade").select_option("plumbing")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("business-name")).to_have_text(business)


def add_customer(page: Page, name: str, email: str | None = None) -> None:
    page.get_by_role("link", name="Customers", exact=True).click()
    page.get_by_role("button", name="+ Add customer").click()
    page.get_by_label("Name", exact=True).fill(name)
    if email:
        page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Add customer", exact=True).click()
    expect(page.locator("table").get_by_text(name, exact=True)).to_be_visible()


def test_signed_out_visitor_sees_an_accessible_login_form(make_context) -> None:
    _, page, monitor = make_context()
    page.goto("/")
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("type", "email")
    expect(email).to_have_attribute("autocomplete", "username")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_role("link", name="Create an account")).to_be_visible()
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong-password-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    shot(page, "login-desktop")
    monitor.assert_clean()


def test_full_journey_with_hostile_customer_names(make_context, server: Server) -> None:
    context, page, monitor = make_context(DESKTOP)
    business = "Ace Plumbing & Sons"
    register(page, business, unique_email("journey"))
    shot(page, "dashboard-empty-desktop")

    # Customers whose names are markup: created on the customers page.
    for i, name in enumerate(XSS_NAMES):
        add_customer(page, name, email=f"evil{i}@example.com")
    add_customer(page, "Jane Doe", email="jane@example.com")
    shot(page, "customers-desktop")

    # New quote from text; the Customer field suggests as they type, literally.
    page.get_by_role("link", name="+ New quote").click()
    expect(page.get_by_role("heading", name="New quote")).to_be_visible()
    customer = page.get_by_label("Customer")
    customer.fill("<im")
    option = page.get_by_role("option", name=XSS_NAMES[0])
    expect(option).to_be_visible()
    customer.fill("<scr")
    expect(page.get_by_role("option", name=XSS_NAMES[1])).to_be_visible()
    customer.fill("<im")
    expect(option).to_be_visible()
    shot(page, "new-quote-autocomplete-desktop")
    option.click()
    expect(customer).to_have_value(XSS_NAMES[0])
    page.get_by_label("Describe the job").fill(
        "Replace the kitchen faucet, new supply lines, haul away the old one.")
    page.get_by_role("button", name="Generate quote").click()
    heading = page.get_by_test_id("quote-heading")
    expect(heading).to_contain_text(re.compile(r"Q-\d{4}"))
    expect(page.get_by_text(f"For {XSS_NAMES[0]}", exact=True)).to_be_visible()
    quote_id = page.url.rsplit("/", 1)[-1]
    shot(page, "quote-desktop")

    # Edit a line: the totals shown are the server's after the save.
    total_before = page.get_by_test_id("total").text_content()
    price = page.get_by_label("Line 1 unit price")
    price.fill("250.00")
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    with page.expect_response(lambda r: r.request.method == "PATCH" and f"/api/quotes/{quote_id}" in r.url) as resp:
        page.get_by_test_id("save-quote").click()
    saved = resp.value.json()
    assert saved["line_items"][0]["unit_price"] == "250.00"
    expect(page.get_by_test_id("total")).to_have_text(re.compile(re.escape(f"{saved['total'][:-3]}")))
    assert page.get_by_test_id("total").text_content() != total_before
    expect(page.get_by_text("Unsaved changes")).to_be_hidden()

    paths = server.openapi_paths()
    # PDF: the returned link serves a PDF.
    if "/api/quotes/{quote_id}/pdf" in paths:
        page.get_by_test_id("pdf-button").click()
        link = page.get_by_test_id("pdf-link")
        expect(link).to_be_visible()
        pdf = context.request.get(link.get_attribute("href"))
        assert pdf.ok and pdf.body()[:5] == b"%PDF-"

    # Share link opened by the customer in a fresh browser: literal names, accept.
    if "/api/quotes/{quote_id}/share" in paths:
        page.get_by_test_id("share-button").click()
        share_url = page.get_by_test_id("share-url").input_value()
        assert re.search(r"/q/[^/]+$", share_url)
        _, customer_page, customer_monitor = make_context(PHONE)
        customer_page.goto(share_url)
        expect(customer_page.get_by_test_id("business")).to_have_text(business)
        expect(customer_page.get_by_test_id("customer-name")).to_have_text(f"Prepared for {XSS_NAMES[0]}")
        shot(customer_page, "share-quote-phone")
        customer_page.get_by_label("Your full name").fill("<script>window.__xss=1</script> Pat")
        customer_page.get_by_role("button", name="Accept quote").click()
        expect(customer_page.get_by_test_id("answer")).to_contain_text("Quote accepted")
        expect(customer_page.get_by_test_id("answer")).to_contain_text("<script>window.__xss=1</script> Pat")
        shot(customer_page, "share-quote-accepted-phone")
        customer_monitor.assert_clean()
        page.reload()
        expect(page.locator(".page-header .badge")).to_have_text("Accepted")

    # A second quote for the <script> customer: the quote view shows it literally.
    page.get_by_role("link", name="+ New quote").click()
    expect(page.get_by_role("heading", name="New quote")).to_be_visible()
    page.get_by_label("Customer").fill("<scr")
    page.get_by_role("option", name=XSS_NAMES[1]).click()
    page.get_by_label("Describe the job").fill("Unclog the bathroom sink drain")
    page.get_by_role("button", name="Generate quote").click()
    expect(page.get_by_text(f"For {XSS_NAMES[1]}", exact=True)).to_be_visible()

    # Invoice from the (accepted) first quote, then mark it paid.
    page.goto(f"/#/quotes/{quote_id}")
    page.get_by_role("button", name="Create invoice").click()
    expect(page.get_by_test_id("invoice-heading")).to_contain_text(re.compile(r"INV-\d{4}"))
    shot(page, "invoice-desktop")
    page.get_by_test_id("mark-paid").click()
    expect(page.locator(".page-header .badge")).to_have_text("Paid")
    invoice_id = page.url.rsplit("/", 1)[-1]

    if "/api/invoices/{invoice_id}/share" in paths:
        page.get_by_test_id("share-button").click()
        invoice_url = page.get_by_test_id("share-url").input_value()
        assert re.search(r"/i/[^/]+$", invoice_url)
        _, viewer, viewer_monitor = make_context(DESKTOP)
        viewer.goto(invoice_url)
        expect(viewer.get_by_test_id("customer-name")).to_have_text(f"Billed to {XSS_NAMES[0]}")
        expect(viewer.get_by_text("Paid — thank you")).to_be_visible()
        shot(viewer, "share-invoice-desktop")
        viewer_monitor.assert_clean()

    # The dashboard and lists render the names as text too.
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.get_by_text(XSS_NAMES[0], exact=True).first).to_be_visible()
    shot(page, "dashboard-desktop")
    page.get_by_role("link", name="Invoices", exact=True).click()
    expect(page.get_by_role("link", name=re.compile(r"INV-\d{4}"))).to_be_visible()
    assert invoice_id
    assert page.evaluate("window.__xss") is None
    monitor.assert_clean()


def test_other_screens_render_and_missing_endpoints_degrade(make_context) -> None:
    """Pricing brain, billing and settings: usable on a phone; not-yet-built endpoints say so."""
    _, page, monitor = make_context(PHONE)
    register(page, "Brightline Electric", unique_email("screens"))
    shot(page, "dashboard-empty-phone")
    page.goto("/#/quotes/new")
    expect(page.get_by_label("Customer")).to_be_visible()
    shot(page, "new-quote-phone")
    page.get_by_label("Describe the job").fill("Install two GFCI outlets in the kitchen and replace a light switch")
    page.get_by_role("button", name="Generate quote").click()
    expect(page.get_by_test_id("quote-heading")).to_be_visible()
    shot(page, "quote-phone")
    page.goto("/#/pricing")
    expect(page.get_by_role("heading", name="Categories")).to_be_visible()
    expect(page.locator("form.category").first).to_be_visible()
    page.get_by_label("Labour rate per hour").fill("125.00")
    page.get_by_role("button", name="Save defaults").click()
    expect(page.get_by_text("Defaults saved.")).to_be_visible()
    shot(page, "pricing-phone")
    page.goto("/#/billing")
    expect(page.locator(".plan-card, .alert-info").first).to_be_visible()
    shot(page, "billing-phone")
    page.goto("/#/settings")
    expect(page.get_by_label("Business name")).to_have_value("Brightline Electric")
    shot(page, "settings-phone")
    page.goto("/#/invoices")
    expect(page.get_by_text("No invoices yet")).to_be_visible()
    shot(page, "invoices-empty-phone")
    page.set_viewport_size(DESKTOP)
    page.goto("/#/pricing")
    expect(page.locator("form.category").first).to_be_visible()
    shot(page, "pricing-desktop")
    page.goto("/#/settings")
    expect(page.get_by_label("Business name")).to_have_value("Brightline Electric")
    shot(page, "settings-desktop")
    monitor.assert_clean()
