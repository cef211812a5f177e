"""Bad input gets a 4xx with a sentence, a code and the request id — never a 500 or a trace."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.helpers import assert_error, make_quote, register


async def test_malformed_json_is_400_invalid_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", content=b'{"email": "a@example.com",',
                                 headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


async def test_wrong_media_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", content=b"email=a&password=b",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 415, "unsupported_media_type")


async def test_body_over_one_megabyte_is_413_before_it_is_read(client: httpx.AsyncClient) -> None:
    account = await register(client)
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await client.post("/api/customers", content=big, headers={
        **account.headers, "Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large")


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    account = await register(client)

    async def chunks():  # no Content-Length: the limit is counted as the body streams in
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post("/api/customers", content=chunks(), headers={
        **account.headers, "Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large")


@pytest.mark.parametrize("body", [
    {"name": "x" * 10_000},
    {"name": 42},
    {"name": None},
    {"name": ["a"]},
    {"name": "ok", "email": "not-an-email"},
    {"name": "bad\x00nul"},
    {"name": "ok", "favourite_colour": "red"},
])
async def test_wrong_types_huge_strings_and_unknown_fields_are_422(client: httpx.AsyncClient, body: dict) -> None:
    account = await register(client)
    response = await client.post("/api/customers", json=body, headers=account.headers)
    assert_error(response, 422, "validation_error")


async def test_odd_unicode_is_stored_exactly(client: httpx.AsyncClient) -> None:
    account = await register(client)
    name = "Zoë 👷🏽‍♀️ Ω≈ç√ مرحبا ‮reversed"
    response = await client.post("/api/customers", json={"name": name}, headers=account.headers)
    assert response.status_code == 201 and response.json()["name"] == name


@pytest.mark.parametrize(("field", "value"), [
    ("quantity", True), ("quantity", "-1"), ("unit_price", "1e400"), ("unit_price", "NaN"),
    ("unit_price", "12.34567"), ("unit_price", "1000000.01"), ("quantity", "abc"),
])
async def test_bad_money_and_quantities_are_422(client: httpx.AsyncClient, field: str, value: object) -> None:
    account = await register(client)
    quote = await make_quote(client, account)
    line = {"name": "Labour", "quantity": "1", "unit_price": "10", field: value}
    response = await client.patch(f"/api/quotes/{quote['id']}", json={"line_items": [line]}, headers=account.headers)
    assert field in assert_error(response, 422, "validation_error")["detail"]


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient) -> None:
    account = await register(client)
    assert_error(await client.get(f"/api/quotes/{uuid.uuid4()}", headers=account.headers), 404, "not_found")
    assert_error(await client.get("/api/quotes/not-a-uuid", headers=account.headers), 422, "validation_error")
    assert_error(await client.get("/api/nowhere", headers=account.headers), 404, "not_found")
    assert_error(await client.put("/api/quotes", headers=account.headers, json={}), 405)


async def test_description_limits(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for description in ("", "   ", "x" * 5001):
        response = await client.post("/api/quotes/generate", json={"description": description},
                                     headers=account.headers)
        assert_error(response, 422, "validation_error")


async def test_incoming_request_id_is_echoed_only_when_sane(client: httpx.AsyncClient) -> None:
    ok = await client.get("/health/live", headers={"X-Request-ID": "abc-123.DEF_4"})
    assert ok.headers["x-request-id"] == "abc-123.DEF_4"
    for bad in ("x" * 65, "has space", "semi;colon"):
        response = await client.get("/health/live", headers={"X-Request-ID": bad})
        assert response.headers["x-request-id"] != bad


LONE_SURROGATE = "\ud800"  # valid in a JSON string escape, not in UTF-8: PostgreSQL cannot store it


def _raw_json(body: dict) -> bytes:
    return json.dumps(body).encode()  # ASCII with \u escapes, so a lone surrogate survives to the server


@pytest.mark.parametrize(("path", "body"), [
    ("/api/auth/login", {"email": "dana\x00@example.com", "password": "a-long-password"}),
    ("/api/auth/login", {"email": f"dana{LONE_SURROGATE}@example.com", "password": "a-long-password"}),
    ("/api/auth/login", {"email": "dana@example.com", "password": f"a-long-{LONE_SURROGATE}password"}),
    ("/api/auth/register", {"email": "dana@example.com", "password": f"a-long-{LONE_SURROGATE}password",
                            "business_name": "Dana Plumbing", "trade": "plumbing"}),
    ("/api/auth/register", {"email": "dana@example.com", "password": "a-long-password",
                            "business_name": f"Dana {LONE_SURROGATE}Plumbing", "trade": "plumbing"}),
    ("/api/auth/refresh", {"refresh_token": f"token{LONE_SURROGATE}"}),
    ("/api/auth/refresh", {"refresh_token": "token\x00"}),
])
async def test_nul_and_lone_surrogates_in_auth_bodies_are_a_4xx(client: httpx.AsyncClient, path: str,
                                                               body: dict) -> None:
    response = await client.post(path, content=_raw_json(body), headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("body", [{"name": f"Dana {LONE_SURROGATE}"}, {"name": "Dana", "notes": f"x{LONE_SURROGATE}"}])
async def test_lone_surrogates_in_text_fields_are_422(client: httpx.AsyncClient, body: dict) -> None:
    account = await register(client)
    response = await client.post("/api/customers", content=_raw_json(body),
                                 headers={**account.headers, "Content-Type": "application/json"})
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("q", ["\x00", "da\x00na", "\x1b[31m"])
async def test_control_characters_in_the_customer_search_are_422(client: httpx.AsyncClient, q: str) -> None:
    account = await register(client)
    response = await client.get("/api/customers/search", params={"q": q}, headers=account.headers)
    assert_error(response, 422, "validation_error")
