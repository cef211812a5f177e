"""The outbox kinds this product knows, and the dispatcher built from them.

Used by the app lifespan and by ``python -m backend.worker``; tests add their
own kinds by passing extra handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from backend.config import Settings
from backend.services.database import Database
from backend.services.delivery_service import EMAIL_HANDLER, EMAIL_KIND
from backend.services.outbox import Dispatcher, Handler, OutboxContext, new_worker_id
from backend.services.quote_generation import GENERATE_KIND, GENERATION_HANDLER
from backend.services.storage_service import Storage
from backend.services.vendors import Vendors


def default_handlers() -> dict[str, Handler]:
    return {GENERATE_KIND: GENERATION_HANDLER, EMAIL_KIND: EMAIL_HANDLER}


def build_dispatcher(settings: Settings, *, db: Database, storage: Storage, vendors: Vendors,
                     extra_handlers: Mapping[str, Handler] | None = None) -> Dispatcher:
    ctx = OutboxContext(db=db, settings=settings, vendors=vendors, storage=storage, worker_id=new_worker_id())
    return Dispatcher.from_settings(ctx, {**default_handlers(), **(extra_handlers or {})})


async def stop_dispatcher(dispatcher: Dispatcher, task: asyncio.Task[None], *, grace_seconds: float = 5.0) -> None:
    """Let the current batch finish (up to ``grace_seconds``), then cancel.

    An item cut off mid-way keeps its lease and is claimed again when the lease
    runs out; nothing is lost, at worst it waits a few minutes.
    """
    dispatcher.stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=grace_seconds)
    except TimeoutError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    except Exception:  # noqa: BLE001 - the loop never raises; belt and braces at shutdown
        await asyncio.gather(task, return_exceptions=True)
