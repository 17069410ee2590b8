from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamrouter.config import Policy
from streamrouter.events import LLMRequest, Message, WorkItem
from streamrouter.pipeline.classify import bypass
from streamrouter.pipeline.route import Refused, route_request
from streamrouter.routing.budget import BudgetPolicy, BudgetStep, TenantBudget

NOW = datetime(2026, 11, 25, tzinfo=UTC)
BUDGETS = BudgetPolicy(
    tenants={
        "acme": TenantBudget(
            limit_usd=10,
            steps=(BudgetStep(at=0.5, max_tier="sonnet"), BudgetStep(at=0.9, max_tier="haiku")),
        )
    }
)
POLICY = Policy(budgets=BUDGETS)


def work(**fields: object) -> WorkItem:
    request = LLMRequest(
        request_id="r1", tenant="acme", messages=[Message(role="user", content="hi")], **fields
    )
    return WorkItem(request=request, received_at=NOW)


@pytest.mark.parametrize(
    ("fields", "spent", "tier", "max_tier", "capped"),
    [
        ({"tier": "opus"}, 0.0, "opus", None, False),
        ({"tier": "opus"}, 6.0, "sonnet", "sonnet", True),
        ({"tier": "opus"}, 9.5, "haiku", "haiku", True),
        ({"task_type": "code_review"}, 6.0, "sonnet", "sonnet", True),
        ({"task_type": "commit_message"}, 9.5, "haiku", "haiku", False),  # already haiku
    ],
)
def test_budget_caps_the_tier(
    fields: dict[str, object], spent: float, tier: str, max_tier: str | None, capped: bool
) -> None:
    routed = route_request(work(**fields), POLICY, spent=spent)
    assert isinstance(routed, WorkItem)
    assert (routed.tier, routed.max_tier) == (tier, max_tier)
    assert routed.route is not None
    assert ("by budget" in routed.route.reason) == capped


def test_over_budget_is_refused_without_routing() -> None:
    refused = route_request(work(tier="opus"), POLICY, spent=10.0)
    assert isinstance(refused, Refused)
    assert refused.reason.startswith("budget exceeded")


def test_unbudgeted_tenants_are_not_capped() -> None:
    routed = route_request(work(tier="opus"), Policy(), spent=1e9)
    assert isinstance(routed, WorkItem) and routed.tier == "opus" and routed.max_tier is None


def test_capped_classifier_request_keeps_its_cap_for_later_stages() -> None:
    routed = route_request(work(), POLICY, spent=6.0)
    assert isinstance(routed, WorkItem)
    assert (routed.tier, routed.route, routed.max_tier) == (None, None, "sonnet")


def test_bypass_skips_the_classifier_and_says_why() -> None:
    routed = bypass(work(), "haiku", Policy().tier_names)
    assert routed.tier == "haiku"
    assert routed.route is not None and routed.route.strategy == "bypass"
    assert "mostly haiku" in routed.route.reason
    assert routed.attempts == []  # no classifier call


def test_a_bypassed_request_keeps_its_budget_cap() -> None:
    capped = work().model_copy(update={"max_tier": "haiku"})
    routed = bypass(capped, "sonnet", Policy().tier_names)
    assert routed.tier == "haiku"
    assert routed.route is not None and "capped at haiku" in routed.route.reason


def test_orchestrated_request_keeps_its_budget_cap() -> None:
    routed = route_request(work(mode="orchestrate"), POLICY, spent=9.5)
    assert isinstance(routed, WorkItem) and routed.route is not None
    assert (routed.route.strategy, routed.max_tier) == ("orchestrator", "haiku")


class FakeScorer:
    def __init__(self, score: float, cutoff: float = 0.5) -> None:
        self._score = score
        self.cutoff = cutoff
        self.prompts: list[str] = []

    def score(self, prompts: list[str]) -> list[float]:
        self.prompts += prompts
        return [self._score for _ in prompts]


@pytest.mark.parametrize(("score", "tier"), [(0.2, "haiku"), (0.5, "opus"), (0.9, "opus")])
def test_the_learned_router_replaces_the_classifier(score: float, tier: str) -> None:
    scorer = FakeScorer(score)
    routed = route_request(work(), Policy(), spent=0.0, learned=scorer)
    assert isinstance(routed, WorkItem) and routed.route is not None
    assert (routed.tier, routed.route.strategy) == (tier, "learned")
    assert scorer.prompts == ["hi"]


def test_the_learned_router_is_capped_by_budget_and_skipped_for_known_routes() -> None:
    capped = route_request(work(), POLICY, spent=9.5, learned=FakeScorer(1))
    assert isinstance(capped, WorkItem) and capped.tier == "haiku"
    scorer = FakeScorer(1.0)
    mapped = route_request(work(task_type="summarize"), Policy(), spent=0.0, learned=scorer)
    assert isinstance(mapped, WorkItem) and mapped.tier == "haiku" and scorer.prompts == []
