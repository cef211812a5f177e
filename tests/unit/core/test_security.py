"""Access tokens (SEC-003 claims) and password hashing."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt

from backend.core import security
from backend.core.errors import TokenExpired, TokenInvalid
from backend.core.security import (
    JWT_AUDIENCE,
    JWT_ISSUER,
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)

KEY = "k" * 48
OLD_KEY = "o" * 48
CID = uuid.uuid4()


def _claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(CID), "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=15)).timestamp()),
        "jti": "j1", "type": "access", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "ver": 0,
    }
    claims.update(overrides)
    return claims


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_access_token_has_every_claim_and_a_15_minute_life() -> None:
    token = create_access_token(contractor_id=CID, token_version=3, key=KEY, lifetime_seconds=900)
    claims = jwt.get_unverified_claims(token)
    assert {"sub", "exp", "iat", "jti", "type", "iss", "aud", "ver"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900
    assert claims["type"] == "access" and claims["ver"] == 3
    decoded = decode_access_token(token, keys=[KEY])
    assert decoded.contractor_id == CID and decoded.token_version == 3


@pytest.mark.parametrize("token", [
    _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
    jwt.encode(_claims(), KEY, algorithm="HS512"),
    jwt.encode(_claims(), "another-key" * 4, algorithm="HS256"),
    jwt.encode(_claims(type="refresh"), KEY, algorithm="HS256"),
    jwt.encode(_claims(iss="someone-else"), KEY, algorithm="HS256"),
    jwt.encode(_claims(aud="another-api"), KEY, algorithm="HS256"),
    jwt.encode(_claims(sub="not-a-uuid"), KEY, algorithm="HS256"),
    jwt.encode({k: v for k, v in _claims().items() if k != "ver"}, KEY, algorithm="HS256"),
    "not.a.token",
    "",
])
def test_forged_or_foreign_tokens_are_rejected(token: str) -> None:
    with pytest.raises(TokenInvalid):
        decode_access_token(token, keys=[KEY])


def test_expired_token_is_rejected_as_expired() -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    token = create_access_token(contractor_id=CID, token_version=0, key=KEY, lifetime_seconds=60, now=past)
    with pytest.raises(TokenExpired):
        decode_access_token(token, keys=[KEY])


def test_tokens_signed_with_the_previous_secret_still_verify() -> None:
    old = create_access_token(contractor_id=CID, token_version=0, key=OLD_KEY, lifetime_seconds=900)
    assert decode_access_token(old, keys=[KEY, OLD_KEY]).contractor_id == CID
    with pytest.raises(TokenInvalid):
        decode_access_token(old, keys=[KEY])


def test_password_hashes_are_argon2_and_verify() -> None:
    hashed = hash_password("correct-horse-battery")
    assert hashed.startswith("$argon2")
    assert verify_password("correct-horse-battery", hashed)
    assert not verify_password("wrong-password!", hashed)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "not-a-hash")


def test_a_remembered_token_is_verified_once_and_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = create_access_token(contractor_id=CID, token_version=0, key=KEY, lifetime_seconds=2)
    calls: list[str] = []
    real = security._verify_access_token

    def counting(token: str, *, keys: list[str]) -> security.AccessClaims:
        calls.append(token)
        return real(token, keys=keys)

    monkeypatch.setattr(security, "_verify_access_token", counting)
    first = decode_access_token(token, keys=[KEY])
    assert decode_access_token(token, keys=[KEY]) == first
    assert len(calls) == 1  # the second request did not parse or HMAC the token again
    # Remembered per set of accepted keys: a key set that no longer accepts it still refuses it.
    with pytest.raises(TokenInvalid):
        decode_access_token(token, keys=[OLD_KEY])
    # Past its expiry a remembered token is refused as expired, without asking jose.
    later = first.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(security, "datetime", type("Clock", (), {"now": staticmethod(lambda tz=None: later)}))
    with pytest.raises(TokenExpired):
        decode_access_token(token, keys=[KEY])
    assert len(calls) == 2  # the OLD_KEY attempt only


def test_the_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_VERIFIED_MAX", 3)
    monkeypatch.setattr(security, "_verified", {})
    for version in range(10):
        decode_access_token(create_access_token(contractor_id=CID, token_version=version, key=KEY,
                                                lifetime_seconds=60), keys=[KEY])
    assert len(security._verified) == 3
    assert [claims.token_version for claims in security._verified.values()] == [7, 8, 9]  # oldest out first
