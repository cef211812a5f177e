"""The serving worker's collector settings (backend/core/gc_tuning.py), in a child process:
freezing this test process's heap would keep every later test's garbage alive."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

_CHILD = """
import gc, json
import backend.main  # the app, built at import as in a gunicorn worker
from backend.core.gc_tuning import GEN0_THRESHOLD, tune_for_serving
before = {"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()[0]}
done = tune_for_serving()
print(json.dumps({"before": before, "done": done, "after": {"frozen": gc.get_freeze_count(),
      "threshold": gc.get_threshold()[0], "tracked": len(gc.get_objects())}, "expected": GEN0_THRESHOLD}))
"""


def test_the_start_up_heap_is_frozen_and_young_collections_are_rarer() -> None:
    result = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == {"frozen": 0, "threshold": 700}
    # The app's import and construction leave tens of thousands of long-lived objects.
    assert report["after"]["frozen"] > 50_000
    assert report["done"] == {"frozen_objects": report["after"]["frozen"], "gen0_threshold": report["expected"]}
    assert report["after"]["threshold"] == report["expected"] > 700
    # Nothing of the start-up heap is left for the collector to walk.
    assert report["after"]["tracked"] < report["after"]["frozen"] // 20
