"""Scores the local estimator against the shared yardstick of realistic job descriptions.

Each case in ``../shared/quote-cases.json`` says what a contractor expects of a first draft
at template rates: items, quantities, a total range, whether questions are due, days and crew.
The file is read as a specification of behaviour; the estimator never sees case ids.
Run with ``pytest -s`` to see the per-case table (the API-level twin is
tests/integration/test_estimator_api_cases.py).
"""

from __future__ import annotations

from backend.services.estimator import estimate, templates_for_trade
from tests.support.quote_cases import assert_meets_the_bar, load_cases, report


def test_estimator_meets_the_quote_cases_bar() -> None:
    cases = load_cases()
    results = [estimate(c["description"], categories=templates_for_trade(c["trade"]), trade=c["trade"])
               for c in cases]
    overall, kind_means, table = report(cases, results)
    print("\n" + table)
    assert_meets_the_bar(overall, kind_means)


def test_every_case_kind_in_the_file_is_scored() -> None:
    known = {"items_any", "min_items", "quantities", "total_range", "questions_expected", "days_range",
             "crew_range", "non_job"}
    for case in load_cases():
        unknown = set(case["expect"]) - known
        assert not unknown, f"{case['id']} has expectation keys the scorer ignores: {unknown}"
