"""The bench scripts start as bench/README.md says (`python bench/<script>.py`), from any directory.

Two of them could not import `backend` when run that way and nothing noticed until someone ran them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "bare_apps.py")  # that one is an app module


def test_every_script_is_listed() -> None:
    assert {"load_http.py", "rate_limiter_cost.py", "cache_speedup.py", "asgi_cpu.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_starts_and_explains_itself(script: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
