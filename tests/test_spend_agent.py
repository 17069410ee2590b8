"""The spend agent books each spend event once, also when it is redelivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

from streamrouter.agents.spend import SpendAgents
from streamrouter.codec import encode
from streamrouter.events import LLMResult
from streamrouter.pipeline.admit import SourceRecord
from streamrouter.routing.budget import BudgetPolicy, Spend, TenantBudget

NOW = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)


def test_a_redelivered_spend_event_is_booked_once() -> None:
    spend: dict[str, object] = {}
    observed: list[float] = []
    runtime = SimpleNamespace(
        topics=None,
        tables=SimpleNamespace(spend=spend),
        policy=SimpleNamespace(budgets=BudgetPolicy(tenants={"acme": TenantBudget(limit_usd=10)})),
        metrics=SimpleNamespace(observe_spend=lambda tenant, usd: observed.append(usd)),
    )
    agents = SpendAgents(runtime)  # type: ignore[arg-type]
    result = LLMResult(
        request_id="r1", tenant="acme", status="ok", total_cost_usd=0.25, completed_at=NOW
    )
    for offset in (7, 7, 8):  # 7 again: redelivered after a crash before the commit
        record = SourceRecord(b"acme", encode(result), "llm.spend", 0, offset)
        asyncio.run(agents.book_one(record))
    assert Spend.stored(spend["acme|2026-11-25"]) == Spend(usd=0.5, booked_through=8)  # type: ignore[arg-type]
    assert observed == [0.25, 0.5]
