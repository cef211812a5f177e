"""INFRA-010's error-rate trigger: per-second counts over the window (backend/services/alerting_service.py)."""

from __future__ import annotations

from typing import Any

import pytest

from backend.services import alerting_service
from backend.services.alerting_service import ERROR_RATE_MIN_REQUESTS, Alerts, ResponseCounts


def test_counts_cover_exactly_the_window() -> None:
    counts = ResponseCounts(60)
    assert counts.observe(False, 1000.2) == (1, 0)
    assert counts.observe(True, 1000.9) == (2, 1)
    assert counts.observe(True, 1059.5) == (3, 2)  # second 1000 is still inside (1059 - 60 < 1000)
    assert counts.observe(False, 1060.0) == (2, 1)  # second 1000 has left
    assert counts.observe(False, 2000.0) == (1, 0)  # a quiet hour: everything has left


def test_memory_is_bounded_by_the_window_not_the_request_rate() -> None:
    counts = ResponseCounts(60)
    now = 5000.0
    for i in range(200_000):  # 2,000 responses a second for 100 s
        counts.observe(i % 10 == 0, now + i / 2000)
    assert len(counts) <= 61
    assert counts.total == 2000 * 60 and counts.errors == 200 * 60


def test_a_burst_of_5xx_raises_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(alerting_service.time, "monotonic", lambda: clock[0])
    alerts = Alerts(webhook_url=None)
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(alerts, "send_alert", lambda *args, **_: sent.append(args))
    for _ in range(100):
        alerts.observe_response(200)
    for _ in range(ERROR_RATE_MIN_REQUESTS):
        alerts.observe_response(503)
    assert sent and sent[-1][1] == "High error rate"  # 20 of 120 > 10 %
    sent.clear()
    clock[0] += 61  # the window moved on: the old failures no longer count
    for _ in range(50):
        alerts.observe_response(200)
    alerts.observe_response(500)
    assert sent == []
