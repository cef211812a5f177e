"""Scoring of draft quotes against the shared yardstick of realistic job descriptions.

Each case in ``/work/shared/quote-cases.json`` says what a contractor expects of a first draft
at template rates: items, quantities, a total range, whether questions are due, days and crew.
The file is read as a specification of behaviour; the estimator never sees case ids.
Used by the estimator unit test and by the API-level test (POST /api/quotes/generate).
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from backend.services.estimator import Estimate, EstimateLine

# CI lays shared/ beside the clone of the repository.
CASES_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "quote-cases.json"
MEAN_BAR = 0.9
KIND_BAR = 0.8
KINDS = ("items", "quantities", "total", "questions", "days", "crew", "non_job")

_UNIT_ALIASES = {
    "each": {"each", "ea", "unit", "units", "pc", "pcs", "piece", "pieces"},
    "lf": {"lf", "linear ft", "lin ft", "linear feet", "ft", "feet"},
    "sq ft": {"sq ft", "sqft", "sf", "square feet", "square foot", "ft2"},
    "cu yd": {"cu yd", "cubic yard", "cubic yards", "yd3", "cy", "yard", "yards"},
    "square": {"square", "squares", "sq"},
    "m2": {"m2", "m²", "sq m", "square metres", "square meters"},
}


def load_cases() -> list[dict[str, Any]]:
    assert CASES_PATH.is_file(), f"quote-cases.json not found at {CASES_PATH}: the yardstick is required"
    data = json.loads(CASES_PATH.read_text(encoding="utf-8"))
    return list(data["cases"])


def _amount(line: EstimateLine) -> Decimal:
    return (line.quantity * line.unit_price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def total(result: Estimate) -> Decimal:
    return sum((_amount(line) for line in result.lines), Decimal(0))


def _unit_ok(unit: str, wanted: list[str]) -> bool:
    unit = unit.strip().lower()
    return any(unit == w.lower() or unit in _UNIT_ALIASES.get(w.lower(), set()) for w in wanted)


def _honest_lines(result: Estimate, description: str) -> list[EstimateLine]:
    """Lines that do not just copy the customer's sentence back (those earn nothing)."""
    said = " ".join(description.lower().split())
    kept = []
    for line in result.lines:
        texts = [" ".join(line.name.lower().split()), " ".join(line.description.lower().split())]
        if any(t == said or (len(said) >= 20 and said in t) for t in texts):
            continue
        kept.append(line)
    return kept


def _text(line: EstimateLine) -> str:
    return f"{line.name} {line.description}".lower()


def _stated(value: Decimal, text: str) -> bool:
    number = f"{value.normalize():f}"
    with_commas = f"{value.normalize():,f}"
    pattern = rf"(?<![\d.,])(?:{re.escape(number)}|{re.escape(with_commas)})(?![\d])"
    return re.search(pattern, text) is not None


def _quantity_ok(lines: list[EstimateLine], spec: dict[str, Any]) -> bool:
    options = [{"quantity": spec["quantity"], "unit_any": spec["unit_any"], "tol": spec.get("tol", 0.05)}]
    options += [{"tol": 0.05, **alt} for alt in spec.get("alt", [])]
    for line in lines:
        if not any(m.lower() in _text(line) for m in spec["match"]):
            continue
        for option in options:
            wanted = Decimal(str(option["quantity"]))
            tol = Decimal(str(option["tol"]))
            if abs(line.quantity - wanted) <= wanted * tol and _unit_ok(line.unit, option["unit_any"]):
                return True
            if _stated(wanted, _text(line)):
                return True
    return False


def _in_range(value: float, bounds: list[float] | None) -> bool:
    return bounds is None or bounds[0] <= value <= bounds[1]


def score(case: dict[str, Any], result: Estimate) -> dict[str, float]:
    """Score one draft per expectation kind (1.0 = all met)."""
    expect = case["expect"]
    lines = _honest_lines(result, case["description"])
    scores: dict[str, float] = {}
    if expect.get("non_job"):
        checks = [total(result) == 0 and not lines, result.confidence == "low", len(result.questions) >= 1]
        scores["non_job"] = sum(checks) / len(checks)
        return scores
    groups = expect.get("items_any") or []
    priced = [line for line in lines if not line.name.lower().startswith("minimum")]
    item_checks = [any(any(alt.lower() in _text(line) for alt in group) for line in lines) for group in groups]
    if expect.get("min_items") is not None:
        item_checks.append(len(priced) >= int(expect["min_items"]))
    if item_checks:
        scores["items"] = sum(item_checks) / len(item_checks)
    quantities = expect.get("quantities") or []
    if quantities:
        scores["quantities"] = sum(_quantity_ok(lines, q) for q in quantities) / len(quantities)
    if expect.get("total_range") is not None:
        scores["total"] = float(_in_range(float(sum((_amount(x) for x in lines), Decimal(0))),
                                          expect["total_range"]))
    if expect.get("questions_expected") is not None:
        scores["questions"] = float(bool(result.questions) == bool(expect["questions_expected"]))
    if expect.get("days_range") is not None:
        scores["days"] = float(_in_range(result.estimated_days, expect["days_range"]))
    if expect.get("crew_range") is not None:
        scores["crew"] = float(_in_range(result.crew_size, expect["crew_range"]))
    return scores


def report(cases: list[dict[str, Any]], results: list[Estimate]) -> tuple[float, dict[str, float], str]:
    """Mean score, per-kind means and the printable per-case table."""
    per_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    case_means: list[float] = []
    rows = [f"{'case':<12} {'score':>5}  {'total':>10}  {'d':>2} {'c':>2}  weak  | title"]
    for case, result in zip(cases, results, strict=True):
        scores = score(case, result)
        for kind, value in scores.items():
            per_kind[kind].append(value)
        mean = sum(scores.values()) / len(scores)
        case_means.append(mean)
        weak = ",".join(k for k, v in scores.items() if v < 1) or "-"
        rows.append(f"{case['id']:<12} {mean:5.2f}  {total(result):>10}  {result.estimated_days:>2} "
                    f"{result.crew_size:>2}  {weak:<5} | {result.title}")
    overall = sum(case_means) / len(case_means)
    kind_means = {k: sum(v) / len(v) for k, v in per_kind.items() if v}
    rows.append(f"mean score {overall:.3f}; " + ", ".join(f"{k} {v:.3f}" for k, v in kind_means.items()))
    return overall, kind_means, "\n".join(rows)


def assert_meets_the_bar(overall: float, kind_means: dict[str, float]) -> None:
    assert overall >= MEAN_BAR, f"mean score {overall:.3f} below {MEAN_BAR}"
    for kind, value in kind_means.items():
        assert value >= KIND_BAR, f"{kind} mean {value:.3f} below {KIND_BAR}"
