"""SEC-006: key status for admins only, key age, no key material anywhere; JWT rotation overlap."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from backend.core.security import create_access_token
from backend.main import create_app
from tests.helpers import assert_error, register
from tests.support.logs import capture_logs

FAKE_KEYS = {
    "anthropic_api_key": "sk-ant-FAKEKEYMATERIAL-anthropic-0001",
    "openai_api_key": "sk-FAKEKEYMATERIAL-openai-0002",
    "stripe_secret_key": "sk_test_FAKEKEYMATERIAL_stripe_0003",
    "stripe_webhook_secret": "whsec_FAKEKEYMATERIAL_0004",
    "posthog_api_key": "phc_FAKEKEYMATERIAL_0005",
    "aws_access_key_id": "AKIAFAKEKEYMATERIAL06",
    "aws_secret_access_key": "FAKEKEYMATERIAL/aws/secret/0007",
}
OLD_JWT = "old-jwt-secret-" + "o" * 40
NEW_JWT = "new-jwt-secret-" + "n" * 40


async def test_key_status_is_admin_only_flags_old_keys_and_leaks_nothing(
    make_settings: Callable[..., Any],
) -> None:
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    old = (datetime.now(UTC) - timedelta(days=100)).date()
    recent = (datetime.now(UTC) - timedelta(days=10)).date()
    settings = make_settings(admin_emails=admin_email, anthropic_api_key_created_at=old.isoformat(),
                             openai_api_key_created_at=recent.isoformat(), **FAKE_KEYS)
    app = create_app(settings)  # configures logging; capture everything from start-up on
    with capture_logs(logging.DEBUG) as collector:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://testserver",
        ) as client:
            admin = await register(client, email=admin_email)
            other = await register(client)
            assert_error(await client.get("/api/admin/key-status", headers=other.headers), 403, "admin_only")
            assert_error(await client.get("/api/admin/key-status"), 401)

            response = await client.get("/api/admin/key-status", headers=admin.headers)
            assert response.status_code == 200, response.text
            keys = {k["name"]: k for k in response.json()["keys"]}
            await app.state.alerts.drain()

    assert set(keys["ANTHROPIC_API_KEY"]) == {"name", "present", "created_at", "last_rotated_at", "age_days",
                                              "rotation_due"}
    assert keys["ANTHROPIC_API_KEY"] == {"name": "ANTHROPIC_API_KEY", "present": True, "created_at": old.isoformat(),
                                         "last_rotated_at": old.isoformat(), "age_days": 100, "rotation_due": True}
    assert keys["OPENAI_API_KEY"]["rotation_due"] is False and keys["OPENAI_API_KEY"]["age_days"] == 10
    assert keys["RESEND_API_KEY"] == {"name": "RESEND_API_KEY", "present": False, "created_at": None,
                                      "last_rotated_at": None, "age_days": None, "rotation_due": False}
    assert keys["JWT_SECRET"]["present"] is True

    logs = "\n".join(collector.lines)
    assert "keys.rotation_due" in logs and "ANTHROPIC_API_KEY" in logs  # the start-up warning
    assert "Key rotation due: ANTHROPIC_API_KEY" in logs  # and its warning alert (logged: no webhook)
    for value in [*FAKE_KEYS.values(), "FAKEKEYMATERIAL", settings.jwt_signing_key]:
        assert value not in response.text, value
        assert value not in logs, value


async def test_jwt_rotation_overlap_accepts_the_previous_secret_and_nothing_unknown(
    make_client: Callable[..., Any], make_settings: Callable[..., Any],
) -> None:
    before = await make_client(make_settings(jwt_secret=OLD_JWT))
    account = await register(before)  # a token signed with the old secret

    during = await make_client(make_settings(jwt_secret=NEW_JWT, jwt_secret_previous=OLD_JWT))
    me = await during.get("/api/contractors/me", headers=account.headers)
    assert me.status_code == 200, me.text
    fresh = await register(during)  # new tokens are signed with the new secret
    assert (await during.get("/api/contractors/me", headers=fresh.headers)).status_code == 200

    forged = create_access_token(contractor_id=uuid.UUID(account.id), token_version=0,
                                 key="an-unknown-key-" + "u" * 40, lifetime_seconds=600)
    refused = await during.get("/api/contractors/me", headers={"Authorization": f"Bearer {forged}"})
    assert_error(refused, 401)

    after = await make_client(make_settings(jwt_secret=NEW_JWT))  # overlap over: JWT_SECRET_PREVIOUS removed
    assert_error(await after.get("/api/contractors/me", headers=account.headers), 401)
    assert (await after.get("/api/contractors/me", headers=fresh.headers)).status_code == 200
