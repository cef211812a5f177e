"""Periodic housekeeping run by every worker's lifespan.

Each job is idempotent (a DELETE of what has expired), so any number of
workers and replicas may run it at the same time; the interval has jitter so
they do not all wake together.
"""

from __future__ import annotations

import asyncio
import secrets

from backend.core.cancellation import cancel_requested
from backend.core.logging import get_logger
from backend.services import auth_service
from backend.services.database import Database

log = get_logger(__name__)

PURGE_INTERVAL_SECONDS = 3600.0


async def purge_once(db: Database) -> int:
    async with db.session() as session:
        return await auth_service.purge_expired_refresh_tokens(session)


async def run_forever(db: Database, *, interval: float = PURGE_INTERVAL_SECONDS) -> None:
    """Purge expired refresh tokens about once an interval until cancelled."""
    while True:
        jitter = secrets.randbelow(1000) / 1000 * interval * 0.2
        await asyncio.sleep(interval * 0.9 + jitter)
        try:
            await purge_once(db)
        except Exception as exc:
            if cancel_requested():  # a shutdown the driver reported as a timeout (core/cancellation.py)
                raise asyncio.CancelledError from exc
            log.warning("maintenance.purge_failed", exc_info=True)
