"""Admin responses: key status (SEC-006) and the test alert (INFRA-010)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel


class KeyStatusOut(BaseModel):
    name: str
    present: bool
    created_at: date | None
    last_rotated_at: date | None
    age_days: int | None
    rotation_due: bool


class KeyStatusList(BaseModel):
    keys: list[KeyStatusOut]


class TestAlertOut(BaseModel):
    queued: bool
    severity: Literal["info"]
    title: str
    message: str
    delivery: Literal["slack", "log_only"]
