"""How long the local estimator takes per description (issue 15: well under 5 ms).

Runs every description of ../shared/quote-cases.json through ``estimate`` with its
trade's template, REPEAT times each, and writes bench/results/estimator.md.
Usage: .venv/bin/python bench/estimator_speed.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.services.estimator import estimate, templates_for_trade  # noqa: E402

CASES = ROOT.parent / "shared" / "quote-cases.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    cases = json.loads(CASES.read_text())["cases"]
    extra = ["x" * 4999, "paint the bedroom walls " * 200]  # long, pathological inputs
    per_case: list[tuple[str, float, float]] = []
    samples: list[float] = []
    for case in cases:
        brain = templates_for_trade(case["trade"])
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            estimate(case["description"], categories=brain, trade=case["trade"])
            timings.append((time.perf_counter() - started) * 1000)
        samples.extend(timings)
        per_case.append((case["id"], statistics.median(timings), max(timings)))
    pathological = []
    for text in extra:
        started = time.perf_counter()
        estimate(text, categories=templates_for_trade("general"))
        pathological.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    slowest = max(per_case, key=lambda row: row[1])
    out = ROOT / "bench" / "results" / "estimator.md"
    lines = [
        "# Local estimator speed",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; {len(cases)} descriptions × {args.repeat} runs "
        f"(`bench/estimator_speed.py --repeat {args.repeat}`).",
        "",
        "| measure | ms per description |",
        "| --- | ---: |",
        f"| p50 over all runs | {p50:.3f} |",
        f"| p99 over all runs | {p99:.3f} |",
        f"| slowest case (median of its runs): {slowest[0]} | {slowest[1]:.3f} |",
        f"| 4,999-character nonsense (one run) | {pathological[0]:.1f} |",
        f"| 4,800-character repeated sentence (one run) | {pathological[1]:.1f} |",
        "",
        "The API caps descriptions at 5,000 characters, so the pathological rows bound the worst case.",
    ]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
