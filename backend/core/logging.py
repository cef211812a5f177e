"""Structured logging (INFRA-008), configured once.

structlog renders JSON lines in production and a coloured console in
development. Our own loggers use structlog's native path (no stdlib record);
standard-library loggers (uvicorn, gunicorn, sqlalchemy, alembic) go through
the same processors via ``ProcessorFormatter``, and both write to one stream.
Every line has a UTC timestamp, level, logger and event, plus the request
context (``set_log_context``/``bind_log_context``: request id, method, path,
contractor id). A redaction step scrubs secrets, tracebacks included.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
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


@functools.lru_cache(maxsize=4096)  # keys are names in our code, or a logged dict's keys: bounded anyway
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
_SCALARS = frozenset({int, float, bool, type(None)})


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remove passwords, tokens, cookies and keys.

    Runs on every line, so the common values (a short string, a number, under a harmless key) take
    one dictionary look-up and at most one regex search; anything else goes through ``_redact_value``.
    """
    for key, value in event_dict.items():  # values are replaced in place; no key is added or removed
        if key in _TRUSTED_KEYS:
            continue
        kind = type(value)
        if kind is str:
            if key == "event" or not _is_secret_key(key):
                # Every pattern needs one of "-_./:= " or whitespace: a word of letters and digits (an id,
                # a method, most events) cannot hold a secret, and isalnum() is far cheaper than the search.
                if not value.isalnum() and _ANY_SECRET_TEXT.search(value) is not None:
                    event_dict[key] = redact_text(value)
                continue
        elif key == "event" or (kind in _SCALARS and not _is_secret_key(key)):
            continue
        event_dict[key] = _redact_value(key, value)
    return event_dict


# -- our own events: structlog's native path ---------------------------------------------
#
# Our loggers do not go through the stdlib: a stdlib hop costs two LogRecords, the logging module's
# handler machinery and ProcessorFormatter per line (~50 µs, a quarter of a cached GET /me; structlog's
# "Performance" chapter). They render with the same processors and write through the stdlib handler's
# stream and lock, so lines from uvicorn, gunicorn and SQLAlchemy (which still come through
# ProcessorFormatter) land in the same stream, whole, in order. The level is the root logger's, read per
# event, so LOG_LEVEL and a test's root.setLevel() both apply as before.

_LEVEL_OF = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
             "error": logging.ERROR, "exception": logging.ERROR, "critical": logging.CRITICAL,
             "fatal": logging.CRITICAL, "msg": logging.INFO}

_handler: logging.Handler | None = None  # the root handler configure_logging() installed
_json_lines = False
_renderer: Any = None
_listeners: list[Callable[[str, str], None]] = []


def _below_level(_: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if _LEVEL_OF.get(method_name, logging.INFO) < logging.root.level:
        raise structlog.DropEvent
    return event_dict


def _render(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    return _renderer(logger, method_name, event_dict)


def _dumps(value: Any, **kw: Any) -> str:
    try:
        return orjson.dumps(value, default=kw.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an int beyond 64 bits, say) the stdlib still writes
        return json.dumps(value, default=repr)


def _level_method(level: int) -> Callable[[_LineWriter, str], None]:
    def write(self: _LineWriter, line: str) -> None:
        self._write(level, line)

    return write


class _LineWriter:
    """structlog's logger for our events: one rendered line to the root handler's stream, under its lock."""

    def __init__(self, name: str) -> None:
        self.name = name  # read by structlog.stdlib.add_logger_name

    def _write(self, level: int, line: str) -> None:
        handler = _handler
        if handler is not None and level >= handler.level:
            handler.acquire()
            try:
                stream = handler.stream  # type: ignore[attr-defined]
                stream.write(line + "\n")
                stream.flush()
            except Exception:  # noqa: BLE001 - as logging.Handler.handleError: a log line never breaks a request
                handler.handleError(logging.makeLogRecord({"msg": line}))
            finally:
                handler.release()
        for listener in _listeners:
            listener(logging.getLevelName(level).lower(), line)

    # structlog calls the method named after the level (getattr per event): one per name, no dispatch.
    debug = _level_method(logging.DEBUG)
    info = msg = _level_method(logging.INFO)
    warning = warn = _level_method(logging.WARNING)
    error = exception = _level_method(logging.ERROR)
    critical = fatal = _level_method(logging.CRITICAL)


_writers: dict[str, _LineWriter] = {}


def _writer_for(name: str = "", *_: Any) -> _LineWriter:
    writer = _writers.get(name)
    if writer is None:
        writer = _writers[name] = _LineWriter(name)
    return writer


def add_line_listener(listener: Callable[[str, str], None]) -> None:
    """Also hand every line our loggers write (its level name and the rendered text) to ``listener``.

    For in-process collectors: the tests and the benches read the lines the app writes this way.
    """
    _listeners.append(listener)


def remove_line_listener(listener: Callable[[str, str], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


_configured: tuple[str, str] | None = None

# The fields every line logged during a request carries (request id, method, path, contractor id): one
# context variable holding a small mapping, replaced on each bind and never changed in place, so a task
# started during a request keeps the fields it saw. (structlog.contextvars keeps a variable per key and
# walks the whole context to clear or merge them: three walks per request on the hot path.)
_log_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("quoted_log_context",
                                                                                     default=None)


def set_log_context(**fields: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Start a fresh context with these fields (the request middleware); ``reset_log_context`` ends it."""
    return _log_context.set(fields)


def bind_log_context(**fields: Any) -> None:
    """Add fields to the current context, for this task and what it starts from now on."""
    _log_context.set({**(_log_context.get() or {}), **fields})


def reset_log_context(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _log_context.reset(token)


_LEVEL_NAMES = {"warn": "warning", "exception": "error"}  # as structlog.stdlib.add_log_level names them


def _add_standard_fields(logger: Any, method_name: str,
                         event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """What every line carries, in one step (one processor call instead of six on every line): the
    request context, ``level``, ``logger``, an ISO 8601 UTC ``timestamp``; uvicorn's coloured copy of
    its message dropped; in JSON, a traceback as text (then redacted like any value; the console
    renderer prints ``exc_info`` itself). The same fields as structlog's add_log_level,
    add_logger_name and TimeStamper(fmt="iso", utc=True) write."""
    fields = _log_context.get()
    if fields:
        for key, value in fields.items():
            event_dict.setdefault(key, value)  # a field of the event itself wins, as with structlog's
    event_dict["level"] = _LEVEL_NAMES.get(method_name, method_name)
    record = event_dict.get("_record")  # a library's LogRecord, through ProcessorFormatter
    event_dict["logger"] = logger.name if record is None else record.name
    event_dict["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    event_dict.pop("color_message", None)
    if _json_lines and "exc_info" in event_dict:
        structlog.processors.format_exc_info(logger, method_name, event_dict)
    return event_dict


def _take_server_loggers() -> None:
    # Route the servers' own loggers through ours instead of their handlers, at LOG_LEVEL: another
    # uvicorn.Config in the process (log_level="warning", say) sets uvicorn.error's own level, and a
    # dictConfig elsewhere may have disabled these loggers.
    for name in ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error", "alembic"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
        lib.setLevel(logging.NOTSET)
        lib.disabled = False
    # Our access line replaces uvicorn's; SQL echo stays off unless asked for.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


def configure_logging(*, log_format: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger; safe to call again."""
    global _configured, _handler, _json_lines, _renderer
    _take_server_loggers()  # every time: another uvicorn in the process may have changed them since
    if _configured == (log_format, level):
        return
    _configured = (log_format, level)

    _json_lines = log_format == "json"
    if _json_lines:
        _renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        _renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    # The steps every line takes, ours and the libraries'.
    shared: list[Any] = [_add_standard_fields, redact_secrets]
    # One processor list for the whole process: loggers cache it on first use, so what depends on the
    # configuration (the renderer, the exception format) is looked up per event, not baked in.
    structlog.configure(
        processors=[_below_level, *shared, _render],  # the level first: an event below it costs nothing more
        logger_factory=_writer_for,
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        cache_logger_on_first_use=True,
    )
    # Standard-library records (uvicorn, gunicorn, SQLAlchemy, alembic) take the same steps in the formatter.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render],
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
    _handler = handler
    # No stdlib line shows the caller's file and line, thread or process, so the stdlib need not
    # work them out for every record (the logging HOWTO's "Optimization" table).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
