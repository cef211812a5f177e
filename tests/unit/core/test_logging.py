"""INFRA-008: redaction of secrets from every log line."""

from __future__ import annotations

from backend.core.logging import REDACTED, redact_secrets, redact_text


def test_secret_fields_are_redacted_wherever_they_appear() -> None:
    event = redact_secrets(None, "info", {
        "event": "login",
        "password": "hunter2hunter2",
        "headers": {"authorization": "Bearer abc.def.ghi", "accept": "json"},
        "api_key": "sk-live-123456789",
        "refresh_token": "r" * 40,
        "token_type": "bearer",
        "contractor_id": "42",
    })
    assert event["password"] == REDACTED
    assert event["headers"]["authorization"] == REDACTED
    assert event["headers"]["accept"] == "json"
    assert event["api_key"] == REDACTED
    assert event["refresh_token"] == REDACTED
    assert event["token_type"] == "bearer"
    assert event["contractor_id"] == "42"


def test_secrets_inside_free_text_are_redacted() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop"
    text = redact_text(f"calling with Bearer {jwt} and key sk_live_abcdefghijkl to postgres://u:pw@db/x")
    assert jwt not in text and "sk_live_abcdefghijkl" not in text and ":pw@" not in text
