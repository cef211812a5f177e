"""SEC-002: every route outside the public allow-list needs a token, and a second
contractor gets 403 on the first one's profile and 404 on every one of their ids."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from backend.main import PUBLIC_PREFIXES, PUBLIC_ROUTES
from tests.helpers import Account, assert_error, make_customer, make_quote, register


def _concrete(path: str) -> str:
    """Fill path parameters with plausible values."""
    return re.sub(r"\{[^}]+\}", lambda m: "water" if m.group(0) == "{key}" else str(uuid.uuid4()), path)


def api_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every API route, through included routers (FastAPI ≥ 0.16x nests them)."""
    return sorted(
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    )


def _is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC_ROUTES or path.startswith(PUBLIC_PREFIXES)


async def test_every_route_outside_the_allow_list_requires_a_token(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]
    checked = 0
    for method, path in api_routes(app):
        if _is_public(method, path):
            continue
        response = await client.request(method, _concrete(path), json={})
        assert response.status_code == 401, f"{method} {path} answered {response.status_code} without a token"
        assert response.json()["code"] == "not_authenticated"
        checked += 1
    assert checked >= 25  # the walk really covered the API


async def test_the_allow_list_names_only_routes_that_exist(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]
    paths = set(api_routes(app))
    paths |= {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}
    assert paths >= PUBLIC_ROUTES


@pytest.fixture
async def two_contractors(client: httpx.AsyncClient) -> tuple[Account, Account, dict[str, str]]:
    owner, intruder = await register(client), await register(client)
    customer = await make_customer(client, owner, "Owner's customer")
    quote = await make_quote(client, owner, customer_id=customer["id"])
    invoice = (await client.post(f"/api/invoices/from-quote/{quote['id']}", headers=owner.headers)).json()
    spare_quote = await make_quote(client, owner)
    ids = {"customer": customer["id"], "quote": quote["id"], "invoice": invoice["id"], "spare": spare_quote["id"]}
    return owner, intruder, ids


LINE = {"name": "x", "quantity": "1", "unit_price": "1"}
FOREIGN_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/api/customers/{customer}", None),
    ("PATCH", "/api/customers/{customer}", {"notes": "mine now"}),
    ("DELETE", "/api/customers/{customer}", None),
    ("GET", "/api/quotes/{quote}", None),
    ("PATCH", "/api/quotes/{quote}", {"notes": "mine now", "line_items": [LINE]}),
    ("DELETE", "/api/quotes/{spare}", None),
    ("POST", "/api/invoices/from-quote/{spare}", None),
    ("GET", "/api/invoices/{invoice}", None),
    ("PATCH", "/api/invoices/{invoice}", {"notes": "mine now"}),
    ("POST", "/api/invoices/{invoice}/mark-paid", {}),
    ("DELETE", "/api/invoices/{invoice}", None),
    ("POST", "/api/quotes/{quote}/pdf", None),
    ("POST", "/api/quotes/{quote}/share", None),
    ("DELETE", "/api/quotes/{quote}/share", None),
    ("POST", "/api/quotes/{quote}/send", {"email": "someone@example.com"}),
    ("POST", "/api/quotes/{quote}/retry", None),
    ("POST", "/api/invoices/{invoice}/pdf", None),
    ("POST", "/api/invoices/{invoice}/share", None),
    ("DELETE", "/api/invoices/{invoice}/share", None),
    ("POST", "/api/invoices/{invoice}/send", {"email": "someone@example.com"}),
]


@pytest.mark.parametrize(("method", "template", "body"), FOREIGN_REQUESTS)
async def test_second_contractor_gets_404_on_every_foreign_id(
    client: httpx.AsyncClient, two_contractors: tuple[Account, Account, dict[str, str]],
    method: str, template: str, body: Any,
) -> None:
    owner, intruder, ids = two_contractors
    path = template.format(**ids)
    foreign = await client.request(method, path, headers=intruder.headers, json=body)
    missing = await client.request(method, re.sub(r"[0-9a-f-]{36}", str(uuid.uuid4()), path),
                                   headers=intruder.headers, json=body)
    assert_error(foreign, 404, "not_found")
    assert_error(missing, 404, "not_found")
    assert foreign.json()["detail"] == missing.json()["detail"]  # indistinguishable from missing
    # …and the owner's data is untouched.
    for kind in ("customer", "quote", "invoice", "spare"):
        route = {"customer": "customers", "quote": "quotes", "invoice": "invoices", "spare": "quotes"}[kind]
        still = await client.get(f"/api/{route}/{ids[kind]}", headers=owner.headers)
        assert still.status_code == 200 and still.json().get("notes") != "mine now"


async def test_second_contractor_gets_403_on_the_first_ones_profile(
    client: httpx.AsyncClient, two_contractors: tuple[Account, Account, dict[str, str]],
) -> None:
    owner, intruder, _ = two_contractors
    assert_error(await client.get(f"/api/contractors/{owner.id}", headers=intruder.headers), 403, "forbidden")


async def test_lists_and_search_show_only_your_own_rows(
    client: httpx.AsyncClient, two_contractors: tuple[Account, Account, dict[str, str]],
) -> None:
    _, intruder, ids = two_contractors
    for path in ("/api/customers", "/api/quotes", "/api/invoices"):
        assert (await client.get(path, headers=intruder.headers)).json()["items"] == []
    found = await client.get("/api/customers/search", params={"q": "owner"}, headers=intruder.headers)
    assert found.json()["items"] == []
    filtered = await client.get("/api/quotes", params={"customer_id": ids["customer"]}, headers=intruder.headers)
    assert filtered.json()["items"] == []
