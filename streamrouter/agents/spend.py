"""Spend booking for budgets: each final result's cost, added to its tenant's period.

Results arrive keyed by tenant, so a tenant's spend entries are always written from
the same partition, the one the budget agent reads them on. Each entry keeps the offset
of the last event booked into it, in the same table value, so a redelivered event is
not booked twice.
"""

from __future__ import annotations

import faust

from streamrouter.agents.base import AgentGroup, log
from streamrouter.codec import decode
from streamrouter.events import LLMResult
from streamrouter.pipeline.admit import SourceRecord
from streamrouter.routing.budget import Spend, spend_key

__all__ = ["SpendAgents"]


class SpendAgents(AgentGroup):
    def register(self, app: faust.App) -> None:
        app.agent(self.topics.spend, name="spend")(self.loop("spend", self.book_one))

    async def book_one(self, record: SourceRecord) -> None:
        result = decode(record.value, LLMResult)
        budget = self.rt.policy.budgets.for_tenant(result.tenant)
        if budget is None:
            return
        key = spend_key(result.tenant, budget.period, result.completed_at)
        booked = Spend.stored(self.tables.spend.get(key)).book(record.offset, result.total_cost_usd)
        if booked is None:
            log.info("spend of %s booked already (redelivered)", result.request_id)
            return
        self.tables.spend[key] = booked.to_stored()
        self.rt.metrics.observe_spend(result.tenant, booked.usd)
