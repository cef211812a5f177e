"""Background loops that catch ``Exception`` must still stop when their task is cancelled.

A cancellation that arrives just as a library's own timeout fires can surface as a ``TimeoutError``
instead of ``CancelledError`` (redis-py's reads, ``asyncio.wait_for`` on Python 3.11). A loop that
logs every ``Exception`` and carries on then swallows its own shutdown, and the app's lifespan
waits on it forever. After catching, these loops ask :func:`cancel_requested` and re-raise.
"""

from __future__ import annotations

import asyncio


def cancel_requested() -> bool:
    """True when the current task has been asked to stop (``Task.cancel()``), whatever was raised since."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
