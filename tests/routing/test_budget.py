from __future__ import annotations

from datetime import UTC, datetime

import pytest
from faust.serializers import codecs

from streamrouter.routing.budget import (
    BudgetPolicy,
    BudgetStep,
    Spend,
    TenantBudget,
    allowed_tiers,
    cap_tier,
    decide_budget,
    spend_key,
)

TIERS = ("haiku", "sonnet", "opus")
BUDGET = TenantBudget(
    limit_usd=10,
    steps=(BudgetStep(at=0.5, max_tier="sonnet"), BudgetStep(at=0.9, max_tier="haiku")),
)


@pytest.mark.parametrize(
    ("spent", "refuse", "max_tier"),
    [
        (0.0, False, None),
        (4.99, False, None),
        (5.0, False, "sonnet"),
        (8.99, False, "sonnet"),
        (9.0, False, "haiku"),
        (9.99, False, "haiku"),
        (10.0, True, None),
        (250.0, True, None),
    ],
)
def test_caps_then_refuses(spent: float, refuse: bool, max_tier: str | None) -> None:
    decision = decide_budget(BUDGET, spent)
    assert (decision.refuse, decision.max_tier) == (refuse, max_tier)


def test_reasons_say_how_much_was_spent() -> None:
    assert decide_budget(BUDGET, 9.5).reason == "capped at haiku by budget: 95% of $10/day spent"
    assert decide_budget(BUDGET, 12).reason == "budget exceeded: 120% of $10/day spent"


def test_no_budget_means_no_limit() -> None:
    assert decide_budget(None, 1e9) == decide_budget(None, 0)
    assert not decide_budget(None, 1e9).refuse


def test_policy_default_applies_to_unlisted_tenants() -> None:
    default = TenantBudget(limit_usd=1)
    policy = BudgetPolicy(tenants={"acme": BUDGET}, default=default)
    assert policy.for_tenant("acme") is BUDGET
    assert policy.for_tenant("other") is default
    assert BudgetPolicy().for_tenant("acme") is None


@pytest.mark.parametrize(
    ("tier", "cap", "expected"),
    [("opus", None, "opus"), ("opus", "sonnet", "sonnet"), ("haiku", "sonnet", "haiku")],
)
def test_cap_tier(tier: str, cap: str | None, expected: str) -> None:
    assert cap_tier(tier, cap, TIERS) == expected


def test_allowed_tiers_stop_at_the_cap() -> None:
    assert allowed_tiers(TIERS, None) == TIERS
    assert allowed_tiers(TIERS, "sonnet") == ("haiku", "sonnet")


@pytest.mark.parametrize(
    ("period", "expected"),
    [("hour", "t|2026-11-25T21"), ("day", "t|2026-11-25"), ("month", "t|2026-11")],
)
def test_spend_key_per_period(period: str, expected: str) -> None:
    at = datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
    assert spend_key("t", period, at) == expected  # type: ignore[arg-type]


def test_spend_books_each_spend_event_once() -> None:
    spent = Spend().book(offset=4, cost_usd=0.25)
    assert spent == Spend(usd=0.25, booked_through=4)
    spent = spent.book(offset=9, cost_usd=0.5)
    assert spent == Spend(usd=0.75, booked_through=9)
    assert spent.book(offset=9, cost_usd=0.5) is None  # redelivered: booked already
    assert spent.book(offset=5, cost_usd=0.5) is None


def test_spend_is_stored_as_a_json_pair() -> None:
    spent = Spend(usd=0.1 + 0.2, booked_through=3)
    assert Spend.stored(codecs.loads("json", codecs.dumps("json", spent.to_stored()))) == spent
    assert Spend.stored(None) == Spend()
    assert Spend.stored(1.25) == Spend(usd=1.25)  # written before offsets were kept
