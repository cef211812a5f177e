"""Structured logging (INFRA-008), configured once.

structlog renders JSON lines in production and a coloured console in
development. Standard-library loggers (uvicorn, gunicorn, sqlalchemy, alembic)
go through the same processors via ``ProcessorFormatter``, so every line has
a UTC timestamp, level, logger and event, plus the request context bound in
contextvars by the request middleware. A redaction step scrubs secrets.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Keys whose values are secrets wherever they appear in an event.
_SECRET_KEY_RE = re.compile(
    r"(pass(word)?|secret|token|authorization|cookie|api[_-]?key|credential|signature|dsn)",
    re.IGNORECASE,
)
# Secrets that may hide inside free text: bearer tokens, JWTs, vendor keys, URL passwords.
_SECRET_TEXT_PATTERNS = (
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer " + REDACTED),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b(sk|rk|pk|whsec|re|xox[abp])[-_][A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"(?i)(://[^:/@\s]+:)[^@\s]+@"), r"\1" + REDACTED + "@"),
    (re.compile(r"(?i)(quoted_refresh=)[^;\s]+"), r"\1" + REDACTED),
    # Share tokens live in public paths and signed file links in query strings:
    # a log reader must not get working links (INFRA-001).
    (re.compile(r"(/shared/)[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)([?&]signature=)[^&\s\"']+"), r"\1" + REDACTED),
)
# Event keys that are not secrets even though their names match the pattern above.
_SAFE_KEYS = frozenset({"token_type", "expires_in", "token_version"})
# One search that matches wherever any pattern above might (case-insensitive: a superset), so the
# common value — an id, a method, a plain path — costs one regex pass instead of seven substitutions.
_ANY_SECRET_TEXT = re.compile(
    "|".join(f"(?:{pattern.pattern.removeprefix('(?i)')})" for pattern, _ in _SECRET_TEXT_PATTERNS),
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    if not _ANY_SECRET_TEXT.search(text):
        return text
    for pattern, replacement in _SECRET_TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return key not in _SAFE_KEYS and _SECRET_KEY_RE.search(key) is not None


def _redact_value(key: str, value: Any) -> Any:
    if _is_secret_key(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


# Values the app makes itself (a UUID for contractor_id), never from a client: nothing to scan for.
_TRUSTED_KEYS = frozenset({"logger", "level", "timestamp", "contractor_id"})


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remove passwords, tokens, cookies and keys."""
    for key in list(event_dict):
        if key in _TRUSTED_KEYS:
            continue
        if key == "event":
            if isinstance(event_dict[key], str):
                event_dict[key] = redact_text(event_dict[key])
            continue
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def _drop_color_message(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # uvicorn adds a duplicate, ANSI-coloured copy of its message.
    event_dict.pop("color_message", None)
    return event_dict


_configured: tuple[str, str] | None = None


def configure_logging(*, log_format: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger; safe to call again."""
    global _configured
    if _configured == (log_format, level):
        return
    _configured = (log_format, level)

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
        redact_secrets,
    ]
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    structlog.configure(
        processors=[
            # Below-level events (cache hits at DEBUG, on every request) stop here, before any work.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_quoted", False):
            root.removeHandler(old)
    handler._quoted = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # No line of ours shows the caller's file and line, thread or process, so the stdlib need not
    # work them out for every record (the logging HOWTO's "Optimization" table): ~15 µs per line.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Route the servers' own loggers through ours instead of their handlers.
    for name in ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error", "alembic"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    # Our access line replaces uvicorn's; SQL echo stays off unless asked for.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
