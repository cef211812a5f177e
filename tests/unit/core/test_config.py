"""Settings: validated at start-up, production refuses unsafe values with the setting's name."""

from __future__ import annotations

import pytest

from backend.config import ConfigError, load_settings, normalize_database_url

SAFE_PRODUCTION = {
    "environment": "production",
    "jwt_secret": "s" * 48,
    "database_url": "postgresql://u:p@db:5432/quoted",
    "redis_url": "redis://cache:6379/0",
}


def test_railway_postgres_urls_are_normalised_to_asyncpg() -> None:
    assert normalize_database_url("postgres://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert normalize_database_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert normalize_database_url("sqlite:///./x.db") == "sqlite+aiosqlite:///./x.db"
    assert load_settings(database_url="postgres://h/db").database_url == "postgresql+asyncpg://h/db"


def test_embedded_default_needs_no_configuration() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.workers == 1
    assert settings.access_token_lifetime == 900


def test_safe_production_settings_load() -> None:
    settings = load_settings(**SAFE_PRODUCTION)
    assert settings.is_production and settings.refresh_cookie_secure
    assert settings.workers == 4


@pytest.mark.parametrize(("override", "named"), [
    ({"jwt_secret": None}, "JWT_SECRET"),
    ({"jwt_secret": "short"}, "JWT_SECRET"),
    ({"database_url": "sqlite:///./data/q.db"}, "DATABASE_URL"),
    ({"redis_url": ""}, "REDIS_URL"),
    ({"cors_origins": "*"}, "CORS_ORIGINS"),
    ({"cookie_secure": "false"}, "COOKIE_SECURE"),
])
def test_production_refuses_unsafe_settings_naming_the_setting(override: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(**{**SAFE_PRODUCTION, **override})
    message = str(error.value)
    assert named in message and "\n" not in message


@pytest.mark.parametrize(("field", "value", "named"), [
    ("db_pool_size", "lots", "DB_POOL_SIZE"),
    ("rate_limit_login", "ten per minute", "RATE_LIMIT_LOGIN"),
    ("trusted_proxy_ips", "not-an-ip", "TRUSTED_PROXY_IPS"),
    ("environment", "staging", "ENVIRONMENT"),
    ("database_url", "mysql://h/db", "DATABASE_URL"),
])
def test_invalid_values_fail_with_the_variable_name(field: str, value: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(**{field: value})


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_SECONDS", "5")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com, https://b.example.com")
    monkeypatch.setenv("S3_BUCKET", "docs")
    settings = load_settings()
    assert settings.access_token_lifetime == 5
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert settings.aws_s3_bucket == "docs"
