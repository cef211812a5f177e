"""SEC-003: rotating refresh tokens, reuse detection, logout everywhere — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from jose import jwt
from sqlalchemy import func, select, text, update

from backend.core.security import JWT_AUDIENCE, JWT_ISSUER
from backend.models import RefreshToken
from backend.services.auth_service import hash_refresh_token
from tests.helpers import PASSWORD, Account, assert_error, register
from tests.support.logs import capture_logs

CSRF = {"X-Requested-With": "quoted"}


async def _login(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


async def _family_rows(client: httpx.AsyncClient, token: str) -> list[RefreshToken]:
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        first = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token)))
        assert first is not None
        rows = await session.scalars(select(RefreshToken).where(RefreshToken.family_id == first.family_id))
        return list(rows)


# -- access tokens -----------------------------------------------------------------


def _forge(account: Account, settings: Any, **changes: Any) -> str:
    claims = jwt.get_unverified_claims(account.token)
    claims.update(changes)
    algorithm = claims.pop("_alg", "HS256")
    key = claims.pop("_key", settings.jwt_signing_key)
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize("changes", [
    {"type": "refresh"}, {"iss": "evil"}, {"aud": "other"}, {"exp": 1}, {"_alg": "HS384"},
    {"_key": "not-the-secret-" + "z" * 30}, {"ver": 99},
])
async def test_access_tokens_with_wrong_claims_are_rejected(client: httpx.AsyncClient, settings: Any,
                                                            changes: dict[str, Any]) -> None:
    account = await register(client)
    forged = _forge(account, settings, **changes)
    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["code"] in ("token_invalid", "token_expired")


async def test_alg_none_token_is_rejected(client: httpx.AsyncClient) -> None:
    account = await register(client)
    claims = jwt.get_unverified_claims(account.token)
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert_error(await client.get("/api/auth/me", headers={"Authorization": f"Bearer {unsigned}"}), 401,
                 "token_invalid")


async def test_tokens_are_not_interchangeable(client: httpx.AsyncClient) -> None:
    account = await register(client)
    pair = await _login(client, account)
    as_access = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert_error(as_access, 401, "token_invalid")
    assert_error(await _refresh(client, pair["access_token"]), 401, "refresh_invalid")
    claims = jwt.get_unverified_claims(pair["access_token"])
    assert claims["iss"] == JWT_ISSUER and claims["aud"] == JWT_AUDIENCE and claims["exp"] - claims["iat"] == 900


# -- rotation --------------------------------------------------------------------


async def test_refresh_rotates_and_the_successor_works(client: httpx.AsyncClient) -> None:
    account = await register(client)
    pair = await _login(client, account)
    rotated = await _refresh(client, pair["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["refresh_token"] != pair["refresh_token"] and body["expires_in"] == 900
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    again = await _refresh(client, body["refresh_token"])
    assert again.status_code == 200
    rows = await _family_rows(client, pair["refresh_token"])
    assert len(rows) == 3 and sum(r.revoked_at is None for r in rows) == 1


async def test_twenty_concurrent_refreshes_yield_exactly_one_successor(make_client: Any, make_settings: Any) -> None:
    client = await make_client(make_settings(db_pool_size=10, db_max_overflow=15))
    account = await register(client)
    pair = await _login(client, account)
    responses = await asyncio.gather(*[_refresh(client, pair["refresh_token"]) for _ in range(20)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, [(r.status_code, r.text[:80]) for r in responses]
    assert all(r.json()["code"] == "refresh_superseded" for r in responses if r.status_code == 401)
    rows = await _family_rows(client, pair["refresh_token"])
    assert len(rows) == 2  # the original and exactly one successor
    winner = next(r for r in responses if r.status_code == 200).json()
    assert (await _refresh(client, winner["refresh_token"])).status_code == 200


async def test_replay_inside_the_grace_window_is_superseded_and_harmless(client: httpx.AsyncClient) -> None:
    account = await register(client)
    pair = await _login(client, account)
    successor = (await _refresh(client, pair["refresh_token"])).json()
    assert_error(await _refresh(client, pair["refresh_token"]), 401, "refresh_superseded")
    assert (await _refresh(client, successor["refresh_token"])).status_code == 200  # family intact


async def test_replay_after_the_grace_window_revokes_the_whole_family(make_client: Any, make_settings: Any) -> None:
    client = await make_client(make_settings(refresh_reuse_grace_seconds=0))
    account = await register(client)
    other_session = await _login(client, account)
    pair = await _login(client, account)
    successor = (await _refresh(client, pair["refresh_token"])).json()
    await asyncio.sleep(0.05)
    assert_error(await _refresh(client, pair["refresh_token"]), 401, "refresh_reused")
    assert_error(await _refresh(client, successor["refresh_token"]), 401, "refresh_revoked")
    rows = await _family_rows(client, pair["refresh_token"])
    assert all(r.revoked_at is not None for r in rows)
    # Another sign-in (another family) of the same contractor is untouched.
    assert (await _refresh(client, other_session["refresh_token"])).status_code == 200


async def test_expired_and_unknown_refresh_tokens(make_client: Any, make_settings: Any) -> None:
    client = await make_client(make_settings())
    account = await register(client)
    pair = await _login(client, account)
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        await session.execute(update(RefreshToken)
                              .where(RefreshToken.token_hash == hash_refresh_token(pair["refresh_token"]))
                              .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    assert_error(await _refresh(client, pair["refresh_token"]), 401, "refresh_expired")
    assert_error(await _refresh(client, "x" * 43), 401, "refresh_invalid")
    client.cookies.clear()
    assert_error(await client.post("/api/auth/refresh"), 401, "refresh_invalid")


async def test_expired_tokens_are_purged_by_the_housekeeping_job(client: httpx.AsyncClient) -> None:
    from backend.services import maintenance

    account = await register(client)
    old, fresh = await _login(client, account), await _login(client, account)
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        await session.execute(update(RefreshToken)
                              .where(RefreshToken.token_hash == hash_refresh_token(old["refresh_token"]))
                              .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    assert await maintenance.purge_once(client.app.state.db) >= 1  # type: ignore[attr-defined]
    assert_error(await _refresh(client, old["refresh_token"]), 401, "refresh_invalid")
    assert (await _refresh(client, fresh["refresh_token"])).status_code == 200


# -- logout ------------------------------------------------------------------------


async def test_logout_kills_the_token_and_its_successors(client: httpx.AsyncClient) -> None:
    account = await register(client)
    pair = await _login(client, account)
    successor = (await _refresh(client, pair["refresh_token"])).json()
    out = await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert out.status_code == 204
    assert_error(await _refresh(client, successor["refresh_token"]), 401, "refresh_revoked")
    assert (await client.post("/api/auth/logout", json={"refresh_token": "unknown"})).status_code == 204


@pytest.mark.parametrize("how", ["logout-all", "change-password"])
async def test_ending_every_session_kills_refresh_and_access_tokens(client: httpx.AsyncClient, how: str) -> None:
    account, bystander = await register(client), await register(client)
    sessions = [await _login(client, account) for _ in range(2)]
    bystander_pair = await _login(client, bystander)
    headers = {"Authorization": f"Bearer {sessions[0]['access_token']}"}
    if how == "logout-all":
        response = await client.post("/api/auth/logout-all", headers=headers)
    else:
        response = await client.post("/api/auth/change-password", headers=headers, json={
            "current_password": PASSWORD, "new_password": "a-brand-new-password"})
    assert response.status_code == 204, response.text
    for pair in sessions:
        assert_error(await _refresh(client, pair["refresh_token"]), 401, "refresh_revoked")
        assert_error(await client.get("/api/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}),
                     401, "token_invalid")
    assert (await client.get("/api/auth/me", headers=bystander.headers)).status_code == 200
    assert (await _refresh(client, bystander_pair["refresh_token"])).status_code == 200
    if how == "change-password":
        old = await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
        assert_error(old, 401, "invalid_credentials")
        new = await client.post("/api/auth/login", json={"email": account.email, "password": "a-brand-new-password"})
        assert new.status_code == 200


async def test_change_password_needs_the_current_one(client: httpx.AsyncClient) -> None:
    account = await register(client)
    wrong = await client.post("/api/auth/change-password", headers=account.headers, json={
        "current_password": "not-it-at-all", "new_password": "a-brand-new-password"})
    assert_error(wrong, 403, "wrong_password")
    short = await client.post("/api/auth/change-password", headers=account.headers, json={
        "current_password": PASSWORD, "new_password": "short"})
    assert_error(short, 422, "validation_error")
    assert (await client.get("/api/auth/me", headers=account.headers)).status_code == 200


# -- the cookie path ---------------------------------------------------------------


async def test_cookie_refresh_needs_the_csrf_header(client: httpx.AsyncClient) -> None:
    account = await register(client)
    login = await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    cookie = login.headers["set-cookie"]
    assert "quoted_refresh=" in cookie and "HttpOnly" in cookie and "Path=/api/auth" in cookie
    assert "samesite=strict" in cookie.lower() and "Secure" not in cookie  # COOKIE_SECURE is off outside production
    assert_error(await client.post("/api/auth/refresh"), 403, "csrf_failed")
    ok = await client.post("/api/auth/refresh", headers=CSRF)
    assert ok.status_code == 200, ok.text
    assert ok.json()["refresh_token"] in ok.headers["set-cookie"]
    assert (await client.post("/api/auth/refresh", headers=CSRF)).status_code == 200  # the new cookie works
    assert_error(await client.post("/api/auth/logout"), 403, "csrf_failed")
    out = await client.post("/api/auth/logout", headers=CSRF)
    assert out.status_code == 204 and 'quoted_refresh=""' in out.headers["set-cookie"]
    assert client.cookies.get("quoted_refresh") is None
    # The old cookie value cannot refresh after logout.
    client.cookies.set("quoted_refresh", ok.json()["refresh_token"], domain="testserver.local", path="/api/auth")
    assert_error(await client.post("/api/auth/refresh", headers=CSRF), 401, "refresh_revoked")


async def test_cookie_is_secure_in_production_settings(make_client: Any, make_settings: Any) -> None:
    client = await make_client(make_settings(cookie_secure=True))
    account = await register(client)
    login = await client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert "Secure" in login.headers["set-cookie"]


# -- nothing secret at rest or in the logs ---------------------------------------------


async def test_no_raw_token_or_password_in_the_database_or_logs(client: httpx.AsyncClient) -> None:
    with capture_logs(logging.DEBUG) as logs:
        account = await register(client)
        pair = await _login(client, account)
        rotated = (await _refresh(client, pair["refresh_token"])).json()
        await client.post("/api/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    secrets_ = [PASSWORD, pair["refresh_token"], rotated["refresh_token"], pair["access_token"],
                rotated["access_token"]]
    async with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        dump = []
        for table in ("contractors", "refresh_tokens"):
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608 - fixed names
            dump.extend(str(tuple(row)) for row in rows)
        count = await session.scalar(select(func.count()).select_from(RefreshToken))
    assert count and count >= 2
    database_text = "\n".join(dump)
    log_text = logs.text()
    assert "/api/auth/refresh" in log_text  # the requests were logged: the check below is not vacuous
    for secret in secrets_:
        assert secret not in database_text
        assert secret not in log_text
