"""SEC-003 in the browser: memory-only access token, one shared refresh, reload, logout."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ACCESS_TOKEN_SECONDS, Server, unique_email
from tests.e2e.test_journey import register

pytestmark = pytest.mark.slow

FIVE_CALLS = """async () => {
  const { api } = await import('/js/api.js');
  const paths = ['/api/auth/me', '/api/contractors/me', '/api/customers?limit=5', '/api/quotes?limit=5',
                 '/api/invoices?limit=5'];
  const results = await Promise.allSettled(paths.map((p) => api('GET', p)));
  return results.map((r) => r.status === 'fulfilled' ? 'ok' : `${r.reason.status} ${r.reason.code}`);
}"""


def test_five_concurrent_calls_after_expiry_share_one_refresh(make_context, server: Server) -> None:
    context, page, monitor = make_context()
    register(page, "Northside Roofing", unique_email("refresh"))
    refreshes: list[str] = []
    page.on("request", lambda r: refreshes.append(r.url) if r.url.endswith("/api/auth/refresh") else None)
    time.sleep(ACCESS_TOKEN_SECONDS + 1.5)  # the in-memory access token has expired

    assert page.evaluate(FIVE_CALLS) == ["ok"] * 5
    assert len(refreshes) == 1, refreshes

    # Nothing about the session is kept in web storage.
    storage = page.evaluate("() => JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage)])")
    assert storage == "[[],[]]"
    cookie = {c["name"]: c for c in context.cookies()}["quoted_refresh"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""

    # After logout the last refresh cookie the browser held is dead.
    old_refresh = {c["name"]: c["value"] for c in context.cookies()}["quoted_refresh"]
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert "quoted_refresh" not in {c["name"] for c in context.cookies()}
    replay = context.request.post(server.url("/api/auth/refresh"), data={"refresh_token": old_refresh})
    assert replay.status == 401
    replay = context.request.post(server.url("/api/auth/refresh"), headers={
        "X-Requested-With": "quoted", "Cookie": f"quoted_refresh={old_refresh}"})
    assert replay.status == 401
    monitor.assert_clean()


def test_reload_restores_the_session_without_the_password(make_context) -> None:
    _, page, monitor = make_context()
    register(page, "Evergreen Landscaping", unique_email("reload"))
    page.goto("/#/customers")
    page.reload()
    expect(page.get_by_test_id("business-name")).to_have_text("Evergreen Landscaping")
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)
    time.sleep(ACCESS_TOKEN_SECONDS + 0.5)  # works after the access token expired, too
    page.reload()
    expect(page.get_by_test_id("business-name")).to_have_text("Evergreen Landscaping")
    monitor.assert_clean()


def test_a_dead_refresh_cookie_returns_to_login_with_a_sentence(make_context, server: Server) -> None:
    context, page, monitor = make_context()
    register(page, "Lakeside Painting", unique_email("dead"))
    refresh = {c["name"]: c["value"] for c in context.cookies()}["quoted_refresh"]
    # Another device logs this sign-in out; our access token then expires.
    assert context.request.post(server.url("/api/auth/logout"), data={"refresh_token": refresh}).status == 204
    time.sleep(ACCESS_TOKEN_SECONDS + 0.5)
    page.get_by_role("link", name="Customers", exact=True).click()
    expect(page.get_by_text("Your session has ended. Please log in again.")).to_be_visible()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    monitor.assert_clean()
