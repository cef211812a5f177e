"""Key age (SEC-006): which tracked secrets are set, when they were issued, and whether rotation is due.

Each secret in ``TRACKED_SECRETS`` may have a ``<NAME>_CREATED_AT`` date (the
day it was issued). The last rotation date is that same date: rotating a key
means setting a new value *and* a new ``_CREATED_AT``, so no other record is
kept. Nothing here ever reads a secret's value beyond "is it set".
The runbook is docs/KEY_ROTATION_RUNBOOK.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from backend.config import TRACKED_SECRETS, Settings
from backend.core.logging import get_logger

log = get_logger(__name__)

ROTATION_DAYS = 90


@dataclass(frozen=True)
class KeyStatus:
    name: str
    present: bool
    created_at: date | None
    last_rotated_at: date | None
    age_days: int | None
    rotation_due: bool


def key_statuses(settings: Settings, *, today: date | None = None) -> list[KeyStatus]:
    """One entry per tracked secret, in ``TRACKED_SECRETS`` order."""
    today = today or datetime.now(UTC).date()
    statuses = []
    for name in TRACKED_SECRETS:
        present = getattr(settings, name.lower(), None) is not None
        created: date | None = getattr(settings, f"{name.lower()}_created_at", None)
        age = (today - created).days if created is not None else None
        statuses.append(KeyStatus(name=name, present=present, created_at=created, last_rotated_at=created,
                                  age_days=age, rotation_due=present and age is not None and age > ROTATION_DAYS))
    return statuses


def keys_due(settings: Settings, *, today: date | None = None) -> list[KeyStatus]:
    """The present keys older than ``ROTATION_DAYS``; each is logged as ``keys.rotation_due`` (names only)."""
    due = [status for status in key_statuses(settings, today=today) if status.rotation_due]
    for status in due:
        log.warning("keys.rotation_due", key_name=status.name, age_days=status.age_days,
                    created_at=status.created_at.isoformat() if status.created_at else None,
                    runbook="docs/KEY_ROTATION_RUNBOOK.md")
    return due
