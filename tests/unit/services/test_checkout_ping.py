"""The pool's checkout ping (backend/services/database.py): one ``SELECT 1``, skipped for a connection
handed back a moment ago. A stand-in for the driver connection records the pings."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.exc import InvalidatePoolError

from backend.services.database import PING_BYPASS_SECONDS, _note_checkin, _ping_on_checkout


class _Record:
    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


class _Driver:
    def __init__(self, fail: bool = False) -> None:
        self.pings = 0
        self.fail = fail

    def run_async(self, _call: Any) -> None:
        self.pings += 1
        if self.fail:
            raise ConnectionResetError("the server closed the connection")


def test_a_new_connection_is_pinged() -> None:
    driver = _Driver()
    _ping_on_checkout(driver, _Record(), None)
    assert driver.pings == 1


def test_a_connection_handed_back_a_moment_ago_is_not_pinged() -> None:
    driver, record = _Driver(), _Record()
    _note_checkin(driver, record)
    _ping_on_checkout(driver, record, None)
    assert driver.pings == 0


def test_a_connection_idle_longer_than_the_window_is_pinged_again() -> None:
    driver, record = _Driver(), _Record()
    _note_checkin(driver, record)
    record.info["quoted_returned_at"] -= PING_BYPASS_SECONDS + 0.01
    _ping_on_checkout(driver, record, None)
    assert driver.pings == 1


def test_the_window_is_shorter_than_a_postgresql_restart() -> None:
    # tests/support/pg_instance.py restarts a tiny server in ~0.2 s; a window that long would hand a restarted
    # server's dead connections out unpinged (test_connection_pooling's quiet-restart case).
    assert 0 < PING_BYPASS_SECONDS <= 0.1


def test_a_failed_ping_invalidates_the_pool() -> None:
    driver, record = _Driver(fail=True), _Record()
    record.info["quoted_returned_at"] = time.monotonic() - 5
    with pytest.raises(InvalidatePoolError, match="ConnectionResetError"):
        _ping_on_checkout(driver, record, None)
