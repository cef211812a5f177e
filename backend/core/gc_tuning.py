"""Garbage-collector settings for a serving worker process (§6: the quote listing's tail).

Measured in ``bench/results/load_profile.md``: a worker holds ~180,000 long-lived
objects from imports and app construction (routes, schemas, SQLAlchemy metadata).
Every full (generation-2) collection walks all of them again; one page of 50
quotes allocates enough containers to trigger collections constantly, and a full
collection then took 50–85 ms — inside whichever request was running. Freezing
the start-up heap moves those objects to the permanent generation (never
scanned), and a larger generation-0 threshold makes the young collections rare:
total time in the collector fell about tenfold and the longest pause from 85 to
~7 ms in the same run.

Called once per worker from gunicorn's ``post_worker_init`` (gunicorn.conf.py), after
the app is imported and built. Not from the app's lifespan: the test suite starts
hundreds of apps in one process, and frozen objects are never freed.
"""

from __future__ import annotations

import gc

# Young collections after this many net container allocations (CPython's default is 700).
GEN0_THRESHOLD = 20_000


def tune_for_serving() -> dict[str, int]:
    """Freeze what start-up allocated and raise the young threshold; returns what was done."""
    gc.collect()  # free start-up garbage first, so it is not frozen with the rest
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    return {"frozen_objects": gc.get_freeze_count(), "gen0_threshold": GEN0_THRESHOLD}
