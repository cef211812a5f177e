"""Issue 15's yardstick through the product: every case of ../shared/quote-cases.json goes
through POST /api/quotes/generate on the embedded default (local estimator, the contractor's
pricing brain seeded from their trade's template) and is scored as a contractor would.
Run with ``pytest -s`` to see the per-case table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from backend.services.estimator import Estimate, EstimateLine
from tests.helpers import register
from tests.support.quote_cases import assert_meets_the_bar, load_cases, report


def _as_estimate(quote: dict[str, Any]) -> Estimate:
    lines = tuple(
        EstimateLine(name=item["name"], description=item["description"], category=item["category"] or "",
                     quantity=Decimal(item["quantity"]), unit=item["unit"], unit_price=Decimal(item["unit_price"]))
        for item in quote["line_items"]
    )
    return Estimate(title=quote["title"], lines=lines, estimated_days=quote["estimated_days"] or 0,
                    crew_size=quote["crew_size"] or 1, confidence=quote["confidence"],
                    questions=tuple(quote["questions"]))


@pytest.fixture
async def roomy_client(make_client: Any, make_settings: Any) -> httpx.AsyncClient:
    # 40 quotes from a few accounts: more than a trial's 10, so the quota is raised for this test only.
    return await make_client(make_settings(trial_quotes=1000))  # type: ignore[no-any-return]


async def test_quote_cases_through_the_api_meet_the_bar(roomy_client: httpx.AsyncClient, db_backend: str) -> None:
    cases = load_cases()
    accounts: dict[str, Any] = {}
    results = []
    for case in cases:
        trade = case["trade"]
        if trade not in accounts:
            accounts[trade] = await register(roomy_client, trade=trade, business_name=f"{trade.title()} Co")
        response = await roomy_client.post("/api/quotes/generate", json={"description": case["description"]},
                                           headers=accounts[trade].headers)
        assert response.status_code == 201, (case["id"], response.text)
        quote = response.json()
        assert quote["generated_by"] == "local" and quote["status"] == "draft"
        results.append(_as_estimate(quote))
    overall, kind_means, table = report(cases, results)
    print(f"\n[{db_backend}]\n{table}")
    assert_meets_the_bar(overall, kind_means)


@pytest.mark.parametrize("description", [
    "hi can you call me back",
    "👷‍♀️🔧💧 ￼ ‮ fix it",
    "ｒｅｐｌａｃｅ ｔｈｅ ｆａｕｃｅｔ",
    "x" * 4999,
    "paint " * 800,
    "\u0000".join("abc"),
])
async def test_odd_descriptions_get_a_4xx_or_an_honest_quote(client: httpx.AsyncClient, description: str) -> None:
    account = await register(client)
    response = await client.post("/api/quotes/generate", json={"description": description}, headers=account.headers)
    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        quote = response.json()
        for item in quote["line_items"]:
            assert Decimal("0") <= Decimal(item["unit_price"]) <= Decimal("1000000")
        if not quote["line_items"]:
            assert quote["confidence"] == "low" and quote["questions"]
