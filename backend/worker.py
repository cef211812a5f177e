"""``python -m backend.worker``: the outbox dispatcher on its own, without the web app.

Every app worker already runs a dispatcher in its lifespan; this entry point
adds dispatch capacity (or runs it apart from the web processes) against the
same database. Any number may run at once: PostgreSQL's ``SKIP LOCKED`` gives
each item to exactly one of them. SIGTERM or SIGINT lets the current batch
finish, then exits.

Circuit breakers are per process, so this process has its own (see
``backend/services/circuit_breaker.py``).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping

from backend.config import ConfigError, Settings, get_settings
from backend.core.logging import configure_logging, get_logger
from backend.services import circuit_breaker, storage_service
from backend.services.database import Database
from backend.services.outbox import Handler
from backend.services.outbox_handlers import build_dispatcher
from backend.services.vendors import Vendors

log = get_logger("quoted.worker")


async def run(settings: Settings, *, extra_handlers: Mapping[str, Handler] | None = None) -> None:
    db = Database(settings)
    breakers = circuit_breaker.install(circuit_breaker.BreakerRegistry.from_settings(settings))
    vendors = Vendors.from_settings(settings, breakers)
    dispatcher = build_dispatcher(settings, db=db, storage=storage_service.create_storage(settings),
                                  vendors=vendors, extra_handlers=extra_handlers)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, dispatcher.stop)
    log.info("worker.started", worker=dispatcher.worker_id, environment=settings.environment)
    try:
        await dispatcher.run_forever()
    finally:
        await vendors.aclose()
        await db.dispose()
        log.info("worker.stopped", worker=dispatcher.worker_id)


def main(extra_handlers: Mapping[str, Handler] | None = None) -> int:
    try:
        settings = get_settings()
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    configure_logging(log_format=settings.effective_log_format, level=settings.log_level)
    asyncio.run(run(settings, extra_handlers=extra_handlers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
