"""Settings: the one place that reads the environment (SPEC §3).

Every variable is validated when the app starts, so a bad value fails at boot
with the variable's name instead of later, in a request. Production refuses
unsafe settings with one line naming the setting.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A fixed secret for development only: tokens signed with it are worthless
# outside a developer's machine, and production refuses to start with it.
DEV_JWT_SECRET = "quoted-development-only-secret-do-not-use-in-production-0000"  # noqa: S105  # nosec B105 - dev only; production refuses it

# SEC-005: preview and production deployments on Railway, matched against the
# whole origin (see backend/core/middleware.py, which anchors it).
RAILWAY_ORIGIN_REGEX = r"https://(pr-\d+-quoted|web-production-[a-z0-9]+)\.up\.railway\.app"

_RATE_RE = re.compile(r"^\s*\d+\s*/\s*(second|minute|hour|day)s?\s*$")

# Secrets tracked for rotation (SEC-006): each may have a <NAME>_CREATED_AT date.
TRACKED_SECRETS = (
    "JWT_SECRET",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "RESEND_API_KEY",
    "SLACK_WEBHOOK_URL",
    "POSTHOG_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


class ConfigError(RuntimeError):
    """Settings that cannot run; the message names the setting."""


def normalize_database_url(url: str) -> str:
    """Accept Railway's plain ``postgres://`` URLs and pick the async drivers."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"

    database_url: str = "sqlite+aiosqlite:///./data/quoted.db"
    db_pool_size: int = Field(20, ge=1, le=1000)
    db_max_overflow: int = Field(10, ge=0, le=1000)
    db_pool_timeout: float = Field(30, gt=0, le=600)
    db_pool_recycle: int = Field(1800, ge=-1)
    db_pgbouncer: bool = False

    redis_url: str = ""

    storage_backend: Literal["local", "s3"] = "local"
    storage_path: str = "./data/files"
    aws_s3_bucket: str = Field("", validation_alias=AliasChoices("AWS_S3_BUCKET", "S3_BUCKET"))
    aws_region: str = "us-east-1"
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    s3_endpoint_url: str = ""

    jwt_secret: SecretStr | None = None
    jwt_secret_previous: SecretStr | None = None
    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    access_token_seconds: int | None = Field(None, ge=1, le=24 * 3600)
    refresh_token_days: int = Field(7, ge=1, le=365)
    refresh_reuse_grace_seconds: int = Field(10, ge=0, le=3600)
    cookie_secure: bool | None = None

    cors_origins: CommaList = Field(default_factory=list)
    public_base_url: str = "http://localhost:8000"
    admin_emails: CommaList = Field(default_factory=list)

    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_model: str = "claude-sonnet-4-5"
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"

    stripe_secret_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_secret_previous: SecretStr | None = None
    stripe_price_starter: str = ""
    stripe_price_pro: str = ""
    stripe_price_team: str = ""

    resend_api_key: SecretStr | None = None
    resend_base_url: str = "https://api.resend.com"
    email_from: str = "Quoted <quotes@quoted.local>"
    slack_webhook_url: SecretStr | None = None
    posthog_api_key: SecretStr | None = None

    rate_limit_enabled: bool = True
    rate_limit_authenticated: str = "100/minute"
    rate_limit_unauthenticated: str = "20/minute"
    rate_limit_generate: str = "10/minute"
    rate_limit_login: str = "10/minute"

    retry_backoff_scale: float = Field(1.0, ge=0, le=100)
    breaker_failure_threshold: int = Field(5, ge=1, le=1000)
    breaker_recovery_seconds: float = Field(30, gt=0, le=3600)
    outbox_poll_seconds: float = Field(2, gt=0, le=3600)
    outbox_max_attempts: int = Field(8, ge=1, le=100)
    outbox_backoff_seconds: float = Field(30, ge=0, le=86400)
    alert_dedupe_seconds: float = Field(300, gt=0, le=86400)  # INFRA-010: one alert per title per window

    trial_days: int = Field(14, ge=0, le=365)
    trial_quotes: int = Field(10, ge=0, le=100000)
    past_due_grace_days: int = Field(7, ge=0, le=365)

    trusted_proxy_ips: CommaList = Field(default_factory=lambda: ["127.0.0.1"])
    web_concurrency: int | None = Field(None, ge=1, le=64)
    port: int = Field(8000, ge=1, le=65535)

    log_format: Literal["console", "json"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # SEC-006 issue dates, one per tracked secret (JWT_SECRET_CREATED_AT, ...).
    jwt_secret_created_at: date | None = None
    anthropic_api_key_created_at: date | None = None
    openai_api_key_created_at: date | None = None
    stripe_secret_key_created_at: date | None = None
    stripe_webhook_secret_created_at: date | None = None
    resend_api_key_created_at: date | None = None
    slack_webhook_url_created_at: date | None = None
    posthog_api_key_created_at: date | None = None
    aws_access_key_id_created_at: date | None = None
    aws_secret_access_key_created_at: date | None = None

    # -- parsing ---------------------------------------------------------------

    @field_validator("cors_origins", "admin_emails", "trusted_proxy_ips", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "access_token_seconds", "web_concurrency", "cookie_secure", "log_format", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "jwt_secret", "jwt_secret_previous", "anthropic_api_key", "openai_api_key",
        "stripe_secret_key", "stripe_webhook_secret", "stripe_webhook_secret_previous",
        "resend_api_key", "slack_webhook_url", "posthog_api_key", "aws_access_key_id",
        "aws_secret_access_key", mode="before",
    )
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "jwt_secret_created_at", "anthropic_api_key_created_at", "openai_api_key_created_at",
        "stripe_secret_key_created_at", "stripe_webhook_secret_created_at",
        "resend_api_key_created_at", "slack_webhook_url_created_at",
        "posthog_api_key_created_at", "aws_access_key_id_created_at",
        "aws_secret_access_key_created_at", mode="before",
    )
    @classmethod
    def _empty_date_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _normalize_db(cls, value: str) -> str:
        value = normalize_database_url(value)
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a postgresql:// or sqlite:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator(
        "rate_limit_authenticated", "rate_limit_unauthenticated", "rate_limit_generate",
        "rate_limit_login",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        if not _RATE_RE.match(value):
            raise ValueError("must look like '100/minute' (second, minute, hour or day)")
        return value.strip()

    @field_validator("trusted_proxy_ips")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s]+$", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if len(secret) < 32 or secret == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set to at least 32 random characters in production")
        if self.is_sqlite:
            raise ValueError("DATABASE_URL must point at PostgreSQL in production, not SQLite")
        if not self.redis_url:
            raise ValueError("REDIS_URL must be set in production (shared cache and rate limits)")
        if "*" in self.cors_origins:
            raise ValueError("CORS_ORIGINS must list exact origins in production, not '*'")
        if self.cookie_secure is False:
            raise ValueError("COOKIE_SECURE must not be false in production")
        return self

    # -- derived values ----------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def access_token_lifetime(self) -> int:
        """Seconds an access token lives; ``expires_in`` always equals this."""
        if self.access_token_seconds:
            return self.access_token_seconds
        return self.access_token_minutes * 60

    @property
    def jwt_signing_key(self) -> str:
        return self.jwt_secret.get_secret_value() if self.jwt_secret else DEV_JWT_SECRET

    @property
    def jwt_verification_keys(self) -> list[str]:
        keys = [self.jwt_signing_key]
        if self.jwt_secret_previous:
            keys.append(self.jwt_secret_previous.get_secret_value())
        return keys

    @property
    def refresh_cookie_secure(self) -> bool:
        return self.is_production if self.cookie_secure is None else self.cookie_secure

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "console" if self.environment == "development" else "json"

    @property
    def workers(self) -> int:
        """gunicorn workers: one on the embedded default (SQLite or no Redis)."""
        if self.is_sqlite or not self.redis_url:
            return 1
        return self.web_concurrency or 4

    @property
    def admin_email_set(self) -> frozenset[str]:
        return frozenset(email.lower() for email in self.admin_emails)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ()
    name = str(loc[0]).upper() if loc else "settings"
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    if not loc:
        return message
    return f"{name}: {message}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and overrides, for tests)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(f"invalid configuration: {_describe(error)}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
