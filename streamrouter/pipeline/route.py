"""Routing an admitted request: budget first, then the cheapest decision that works.

Pure. In order: a tenant over its budget is refused (an error result, no model call)
and one near it is capped; an orchestrated request goes to the planner; a pinned tier
or a known task type picks the tier, or the learned router decides when it replaces
the classifier; otherwise ``tier`` stays None and the request goes to the classify
stage, which skips the classifier while the bypass is on (``classify.bypass``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from streamrouter.config import Policy
from streamrouter.events import Route, WorkItem
from streamrouter.routing.budget import cap_tier, decide_budget
from streamrouter.routing.decide import (
    choose_route,
    route_learned,
)
from streamrouter.routing.task_map import normalize_task_type

__all__ = ["Refused", "is_orchestrated", "route_request"]


@dataclass(frozen=True)
class Refused:
    """Over its tenant's budget: an error result, and no model call."""

    work: WorkItem
    reason: str


def is_orchestrated(work: WorkItem, policy: Policy) -> bool:
    request = work.request
    if request.mode == "orchestrate":
        return True
    orchestrated = {normalize_task_type(t) for t in policy.orchestrator.task_types}
    return request.task_type is not None and normalize_task_type(request.task_type) in orchestrated


class PromptScorer(Protocol):
    """The learned router, as routing sees it (``routing.learned.LearnedRouter``)."""

    cutoff: float

    def score(self, prompts: Sequence[str]) -> list[float]: ...


def route_request(
    work: WorkItem,
    policy: Policy,
    *,
    spent: float,
    learned: PromptScorer | None = None,
) -> WorkItem | Refused:
    """``spent``: the tenant's spend in its budget period (0 without a budget);
    ``learned``: the learned router, when it replaces the classifier."""
    budget = decide_budget(policy.budgets.for_tenant(work.request.tenant), spent)
    if budget.refuse:
        return Refused(work, budget.reason)
    work = work.model_copy(update={"max_tier": budget.max_tier})
    if is_orchestrated(work, policy):
        reason = _join("planner on the top tier", budget.reason)
        return work.model_copy(update={"route": Route(strategy="orchestrator", reason=reason)})
    decision = choose_route(work.request, policy.task_map)
    if decision is None and learned is not None:
        score = learned.score([work.request.last_user_text])[0]
        decision = route_learned(score, learned.cutoff, policy.tier_names)
    if decision is None:
        return work
    tier = cap_tier(decision.tier, budget.max_tier, policy.tier_names)
    capped = budget.reason if tier != decision.tier else ""
    route = decision.route.model_copy(update={"reason": _join(decision.route.reason, capped)})
    return work.model_copy(update={"tier": tier, "route": route})


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
