"""Capture what the app writes to its log stream, in process, as the lines an operator would read.

Our own loggers write through structlog's native path (``backend.core.logging``), not as stdlib
records, so a plain ``logging.Handler`` (or pytest's ``caplog``) would see only the libraries' lines.
``capture_logs()`` listens to both: our rendered lines, and the stdlib records rendered by the app's
own formatter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backend.core.logging import add_line_listener, configure_logging, remove_line_listener


class LogLines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, _level: str, line: str) -> None:
        self.lines.append(line)

    def json(self) -> list[dict[str, Any]]:
        """Every line that is a JSON object (all of them when LOG_FORMAT=json)."""
        found = []
        for line in self.lines:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
        return found

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.json() if line.get("event") == event]

    def text(self) -> str:
        return "\n".join(self.lines)

    def clear(self) -> None:
        self.lines.clear()


class _StdlibLines(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None, into: LogLines) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(formatter)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.add(record.levelname.lower(), self.format(record))


@contextmanager
def capture_logs(level: int | None = None) -> Iterator[LogLines]:
    """Collect every line the app logs meanwhile; ``level`` lowers (or raises) the root level meanwhile."""
    root = logging.getLogger()
    if not any(getattr(h, "_quoted", False) for h in root.handlers):
        configure_logging(log_format="json")  # a test that builds no app: the app's logging all the same
    ours = next(h for h in root.handlers if getattr(h, "_quoted", False))
    collected = LogLines()
    stdlib = _StdlibLines(ours.formatter, collected)
    root.addHandler(stdlib)
    add_line_listener(collected.add)
    previous = root.level
    if level is not None:
        root.setLevel(level)
    try:
        yield collected
    finally:
        remove_line_listener(collected.add)
        root.removeHandler(stdlib)
        root.setLevel(previous)
