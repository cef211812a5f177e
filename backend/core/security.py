"""Passwords (argon2) and access tokens (JWT HS256), per SEC-003.

Access tokens carry ``sub, exp, iat, jti, type="access", iss, aud, ver``.
Verification accepts only HS256 (an explicit allow-list defeats ``alg: none``
and RS/HS confusion), tries the current key and then ``JWT_SECRET_PREVIOUS``
(zero-downtime rotation), and checks type, issuer and audience.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jose import jwt
from jose.exceptions import ExpiredSignatureError, JOSEError
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from backend.core.errors import TokenExpired, TokenInvalid

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "quoted"
JWT_AUDIENCE = "quoted-api"

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the email is unknown, so a wrong email costs as long
# as a wrong password (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # noqa: BLE001 - a malformed stored hash is a failed login, not a 500
        return False


@dataclass(frozen=True)
class AccessClaims:
    contractor_id: uuid.UUID
    token_version: int
    jti: str
    expires_at: datetime


def create_access_token(
    *, contractor_id: uuid.UUID, token_version: int, key: str, lifetime_seconds: int,
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(contractor_id),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=lifetime_seconds)).timestamp()),
        "jti": secrets.token_hex(16),
        "type": "access",
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "ver": token_version,
    }
    return jwt.encode(claims, key, algorithm=JWT_ALGORITHM)


# Tokens that verified, by (token, accepted keys). An access token comes back on every request
# of its life, and python-jose parses and HMAC-checks it again each time (~40 µs of CPU, a tenth
# of a cached GET /api/contractors/me: bench/results/load.md). Only verified tokens enter; an entry
# is good until the token's own expiry; revocation is unaffected (``ver`` is checked against the
# contractor on every request). Bounded, oldest out first.
_VERIFIED_MAX = 4096
_verified: dict[tuple[str, tuple[str, ...]], AccessClaims] = {}


def decode_access_token(token: str, *, keys: list[str]) -> AccessClaims:
    """Verify an access token against each accepted key; raise 401 errors."""
    cache_key = (token, tuple(keys))
    claims = _verified.get(cache_key)
    if claims is not None:
        if claims.expires_at > datetime.now(UTC):
            return claims
        _verified.pop(cache_key, None)
        raise TokenExpired()
    claims = _verify_access_token(token, keys=keys)
    _verified[cache_key] = claims
    if len(_verified) > _VERIFIED_MAX:
        _verified.pop(next(iter(_verified)))
    return claims


def _verify_access_token(token: str, *, keys: list[str]) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError:
        raise TokenInvalid() from None
    if header.get("alg") != JWT_ALGORITHM:
        raise TokenInvalid()
    claims: dict[str, object] | None = None
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[JWT_ALGORITHM],
                audience=JWT_AUDIENCE,
                issuer=JWT_ISSUER,
                options={"require_exp": True, "require_iat": True, "require_sub": True,
                         "require_jti": True, "require_aud": True, "require_iss": True},
            )
            break
        except ExpiredSignatureError:
            raise TokenExpired() from None
        except JOSEError:  # JWTError and JWKError alike: a bad token, never a 500
            continue
    if claims is None or claims.get("type") != "access":
        raise TokenInvalid()
    try:
        return AccessClaims(
            contractor_id=uuid.UUID(str(claims["sub"])),
            token_version=int(claims["ver"]),  # type: ignore[call-overload]
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),  # type: ignore[call-overload]
        )
    except (KeyError, TypeError, ValueError):
        raise TokenInvalid() from None
