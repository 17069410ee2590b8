"""Per-tenant budgets: as a tenant nears its spend limit its highest tier is capped;
past the limit its requests are refused without any model call.

Pure: spend is looked up by the caller (a durable table keyed by tenant and period)
and passed in. Enforcement is as fresh as that table: spend is booked when a result is
final, so requests in flight when the limit is crossed may still finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BudgetDecision",
    "BudgetPolicy",
    "BudgetStep",
    "Spend",
    "TenantBudget",
    "allowed_tiers",
    "cap_tier",
    "decide_budget",
    "spend_key",
]

Period = Literal["hour", "day", "month"]


class BudgetStep(BaseModel):
    """From ``at`` (a share of the limit) on, no tier above ``max_tier`` is used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: float = Field(ge=0.0, le=1.0)
    max_tier: str


class TenantBudget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    limit_usd: float = Field(gt=0.0)
    period: Period = "day"
    steps: tuple[BudgetStep, ...] = ()


class BudgetPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenants: dict[str, TenantBudget] = Field(default_factory=dict)
    # Applies to every tenant not listed; None: such tenants are unlimited.
    default: TenantBudget | None = None

    def for_tenant(self, tenant: str) -> TenantBudget | None:
        return self.tenants.get(tenant, self.default)


@dataclass(frozen=True)
class BudgetDecision:
    refuse: bool
    max_tier: str | None  # None: no cap
    reason: str


@dataclass(frozen=True)
class Spend:
    """A tenant's spend in one period, and the offset of the last spend event booked into
    it. A tenant's spend events come from one partition, in order, so an event at or
    below that offset is a redelivery: booking it again would bill the tenant twice."""

    usd: float = 0.0
    booked_through: int = -1

    def book(self, offset: int, cost_usd: float) -> Spend | None:
        """The spend with the event at ``offset`` booked; None if it is booked already."""
        if offset <= self.booked_through:
            return None
        return Spend(self.usd + cost_usd, offset)

    @classmethod
    def stored(cls, value: list[float] | float | None) -> Spend:
        """From its table value: a JSON pair, or a bare sum (written before offsets were
        kept); none stored is nothing spent."""
        if value is None or isinstance(value, float | int):
            return cls(float(value or 0.0))
        return cls(float(value[0]), int(value[1]))

    def to_stored(self) -> list[float]:
        return [self.usd, self.booked_through]


def spend_key(tenant: str, period: Period, at: datetime) -> str:
    """The spend-table key of a tenant's spend in the period that contains ``at`` (UTC)."""
    stamp = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}[period]
    return f"{tenant}|{at.strftime(stamp)}"


def decide_budget(budget: TenantBudget | None, spent: float) -> BudgetDecision:
    if budget is None:
        return BudgetDecision(False, None, "")
    used = spent / budget.limit_usd
    where = f"{used:.0%} of ${budget.limit_usd:g}/{budget.period} spent"
    if spent >= budget.limit_usd:
        return BudgetDecision(True, None, f"budget exceeded: {where}")
    reached = [step for step in budget.steps if used >= step.at]
    if not reached:
        return BudgetDecision(False, None, "")
    step = max(reached, key=lambda s: s.at)
    return BudgetDecision(False, step.max_tier, f"capped at {step.max_tier} by budget: {where}")


def cap_tier(tier: str, max_tier: str | None, tiers: Sequence[str]) -> str:
    """``tier``, or ``max_tier`` when that is lower."""
    if max_tier is None:
        return tier
    return tier if tiers.index(tier) <= tiers.index(max_tier) else max_tier


def allowed_tiers(tiers: Sequence[str], max_tier: str | None) -> Sequence[str]:
    """The tiers a request may use (escalation stops at the cap)."""
    return tiers if max_tier is None else tiers[: tiers.index(max_tier) + 1]
