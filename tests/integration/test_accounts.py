"""Accounts: register, login, me; access tokens as SEC-003 describes them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from jose import jwt

from backend.config import Settings
from tests.helpers import PASSWORD, assert_error, register


async def test_register_returns_a_token_pair_and_a_trial_account(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json={
        "email": "Owner@Example.com", "password": PASSWORD, "business_name": "Pipe Dreams LLC", "trade": "plumbing",
    })
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43  # ≥ 256 bits
    contractor = body["contractor"]
    assert contractor["email"] == "owner@example.com"
    assert contractor["plan"] == "trial" and contractor["subscription_status"] == "trialing"
    assert contractor["is_admin"] is False
    assert contractor["tax_rate"] == "0.00"
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == 900 and claims["sub"] == contractor["id"]


async def test_register_twice_with_the_same_email_in_any_case_is_409(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post("/api/auth/register", json={
        "email": account.email.upper(), "password": PASSWORD, "business_name": "Again",
    })
    assert_error(response, 409, "email_taken")


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "a@example.com", "password": "short", "business_name": "X"}, "password"),
    ({"email": "not-an-email", "password": PASSWORD, "business_name": "X"}, "email"),
    ({"email": "a@example.com", "password": PASSWORD, "business_name": "X", "trade": "astronaut"}, "trade"),
    ({"email": "a@example.com", "password": PASSWORD, "business_name": "   "}, "business_name"),
    ({"email": "a@example.com", "password": PASSWORD}, "business_name"),
])
async def test_register_rejects_bad_fields_naming_them(client: httpx.AsyncClient, body: dict[str, Any],
                                                      field: str) -> None:
    error = assert_error(await client.post("/api/auth/register", json=body), 422, "validation_error")
    assert field in error["detail"]


async def test_login_with_right_and_wrong_credentials(client: httpx.AsyncClient) -> None:
    account = await register(client)
    ok = await client.post("/api/auth/login", json={"email": account.email.upper(), "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["contractor"]["id"] == account.id
    wrong = await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD + "x"})
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    wrong_body = assert_error(wrong, 401, "invalid_credentials")
    unknown_body = assert_error(unknown, 401, "invalid_credentials")
    assert wrong_body["detail"] == unknown_body["detail"]  # no account enumeration


async def test_unknown_email_costs_as_long_as_a_wrong_password(client: httpx.AsyncClient) -> None:
    account = await register(client)

    async def timed(email: str) -> float:
        started = time.perf_counter()
        await client.post("/api/auth/login", json={"email": email, "password": "wrong-password-1"})
        return time.perf_counter() - started

    wrong = min([await timed(account.email) for _ in range(3)])
    unknown = min([await timed("ghost@example.com") for _ in range(3)])
    # Both verify an argon2 hash; an unknown email must not answer in a fraction of the time.
    assert unknown > wrong * 0.3


async def test_me_returns_the_signed_in_contractor(client: httpx.AsyncClient) -> None:
    account = await register(client, business_name="Sparks Electric", trade="electrical")
    response = await client.get("/api/auth/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["business_name"] == "Sparks Electric"
    assert response.json()["trade"] == "electrical"


async def test_missing_bad_and_expired_tokens_are_401_with_codes(
    client: httpx.AsyncClient, settings: Settings, make_client: Any, make_settings: Any,
) -> None:
    assert_error(await client.get("/api/auth/me"), 401, "not_authenticated")
    assert_error(await client.get("/api/auth/me", headers={"Authorization": "Basic abc"}), 401, "not_authenticated")
    assert_error(await client.get("/api/auth/me", headers={"Authorization": "Bearer x.y.z"}), 401, "token_invalid")
    short = await make_client(make_settings(access_token_seconds=1))
    account = await register(short)
    await asyncio.sleep(2.1)
    assert_error(await short.get("/api/auth/me", headers=account.headers), 401, "token_expired")


async def test_token_signed_with_previous_secret_verifies_after_rotation(
    make_client: Any, make_settings: Any,
) -> None:
    old_secret, new_secret = "old-secret-" + "a" * 40, "new-secret-" + "b" * 40
    before = await make_client(make_settings(jwt_secret=old_secret))
    account = await register(before)
    rotated = await make_client(make_settings(jwt_secret=new_secret, jwt_secret_previous=old_secret))
    assert (await rotated.get("/api/auth/me", headers=account.headers)).status_code == 200
    other = await make_client(make_settings(jwt_secret=new_secret))
    assert_error(await other.get("/api/auth/me", headers=account.headers), 401, "token_invalid")


async def test_bumped_token_version_kills_older_access_tokens(client: httpx.AsyncClient) -> None:
    from sqlalchemy import update

    from backend.models import Contractor

    account = await register(client)
    db = client.app.state.db  # type: ignore[attr-defined]
    async with db.session() as session:
        await session.execute(update(Contractor).where(Contractor.email == account.email)
                              .values(token_version=Contractor.token_version + 1))
    assert_error(await client.get("/api/auth/me", headers=account.headers), 401, "token_invalid")


async def test_passwords_are_stored_as_argon2_hashes_only(client: httpx.AsyncClient) -> None:
    from sqlalchemy import select

    from backend.models import Contractor

    account = await register(client)
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        stored = await session.scalar(select(Contractor.password_hash).where(Contractor.email == account.email))
    assert stored is not None and stored.startswith("$argon2") and PASSWORD not in stored
