"""``python -m tests.support.outbox_marker_worker``: the real outbox worker plus a test-only kind.

Exists ONLY for tests (tests/integration/test_outbox.py). ``test.marker``
items insert one row per processing into ``outbox_marker`` (created by the
test) in the same transaction that marks the item done, so the table records
exactly which worker processed which item, and how often.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from sqlalchemy import text

from backend.services.outbox import ClaimedItem, Handler, OutboxContext
from backend.worker import main

MARKER_KIND = "test.marker"


async def mark(ctx: OutboxContext, item: ClaimedItem) -> None:
    await asyncio.sleep(float(item.payload.get("sleep", 0)))  # a little work, so batches overlap
    async with ctx.finishing(item) as session:
        await session.execute(
            text("INSERT INTO outbox_marker (id, item_id, worker) VALUES (:id, :item_id, :worker)"),
            {"id": str(uuid.uuid4()), "item_id": str(item.id), "worker": ctx.worker_id},
        )


MARKER_HANDLER = Handler(run=mark)

if __name__ == "__main__":
    sys.exit(main(extra_handlers={MARKER_KIND: MARKER_HANDLER}))
