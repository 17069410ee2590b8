from __future__ import annotations

import pytest

from streamrouter.events import LLMRequest, Message, Route
from streamrouter.routing.classifier import Classification
from streamrouter.routing.decide import (
    RouteDecision,
    choose_route,
    classifier_note,
    route_classified,
    route_learned,
    route_unclassified,
)
from streamrouter.routing.task_map import DEFAULT_TASK_MAP

TIERS = ("haiku", "sonnet", "opus")


def request(*, task_type: str | None = None, tier: str | None = None) -> LLMRequest:
    return LLMRequest(
        request_id="r1",
        task_type=task_type,
        tier=tier,
        messages=[Message(role="user", content="hi")],
    )


@pytest.mark.parametrize(
    ("task_type", "tier", "expected"),
    [
        # Pinned: no routing, whatever the task type says.
        (None, "opus", RouteDecision("opus", Route(strategy="pinned", reason="tier opus pinned"))),
        (
            "commit_message",
            "opus",
            RouteDecision("opus", Route(strategy="pinned", reason="tier opus pinned")),
        ),
        (
            "no_such_task",
            "haiku",
            RouteDecision("haiku", Route(strategy="pinned", reason="tier haiku pinned")),
        ),
        # Task map, one per tier.
        (
            "commit_message",
            None,
            RouteDecision(
                "haiku",
                Route(strategy="task_map", reason="task_type commit_message maps to haiku"),
            ),
        ),
        (
            "fix_failing_test",
            None,
            RouteDecision(
                "sonnet",
                Route(strategy="task_map", reason="task_type fix_failing_test maps to sonnet"),
            ),
        ),
        (
            "code_review",
            None,
            RouteDecision(
                "opus", Route(strategy="task_map", reason="task_type code_review maps to opus")
            ),
        ),
    ],
)
def test_choose_route_decides_without_classifier(
    task_type: str | None, tier: str | None, expected: RouteDecision
) -> None:
    assert choose_route(request(task_type=task_type, tier=tier), DEFAULT_TASK_MAP) == expected


@pytest.mark.parametrize(
    ("task_type", "tier"),
    [
        ("Commit-Message", "haiku"),
        (" commit message ", "haiku"),
        ("COMMIT_MESSAGE", "haiku"),
        ("Fix-Failing  Test", "sonnet"),
        ("code--review", "opus"),
        ("Architecture", "opus"),
    ],
)
def test_choose_route_normalises_task_type(task_type: str, tier: str) -> None:
    decision = choose_route(request(task_type=task_type), DEFAULT_TASK_MAP)
    assert decision is not None
    assert decision.tier == tier
    assert decision.route.strategy == "task_map"
    assert decision.route.complexity is None
    # The reason names the task type as the user spelled it.
    assert task_type in decision.route.reason


@pytest.mark.parametrize("task_type", [None, "", "   ", "-", "commit_mesage", "translate", "opus"])
def test_choose_route_leaves_the_rest_to_the_classifier(task_type: str | None) -> None:
    assert choose_route(request(task_type=task_type), DEFAULT_TASK_MAP) is None


@pytest.mark.parametrize(
    ("task_map", "task_type", "tier"),
    [
        ({"translate": "haiku"}, "translate", "haiku"),
        ({"Code-Review": "sonnet"}, "code_review", "sonnet"),  # config keys normalised too
        ({"translate": "haiku"}, "commit_message", None),  # the map given is the only map
        ({}, "commit_message", None),
    ],
)
def test_choose_route_uses_the_given_task_map(
    task_map: dict[str, str], task_type: str, tier: str | None
) -> None:
    decision = choose_route(request(task_type=task_type), task_map)
    assert (decision.tier if decision else None) == tier


@pytest.mark.parametrize(
    ("task_type", "note"),
    [
        (None, ""),
        ("", ""),
        ("commit_mesage", "unknown task_type 'commit_mesage'; "),
        ("Weird 'quote'", "unknown task_type \"Weird 'quote'\"; "),
    ],
)
def test_classifier_note(task_type: str | None, note: str) -> None:
    assert classifier_note(request(task_type=task_type)) == note


@pytest.mark.parametrize(
    ("complexity", "tiers", "tier"),
    [
        ("simple", TIERS, "haiku"),
        ("medium", TIERS, "sonnet"),
        ("hard", TIERS, "opus"),
        ("medium", ("small", "big"), "big"),
        ("simple", ("only",), "only"),
        ("hard", ("only",), "only"),
        ("medium", ("a", "b", "c", "d"), "c"),
    ],
)
def test_route_classified_tier(complexity: str, tiers: tuple[str, ...], tier: str) -> None:
    decision = route_classified(Classification(complexity, 0.9, "why"), tiers)
    assert decision.tier == tier
    assert decision.route.strategy == "classifier"
    assert decision.route.complexity == complexity


@pytest.mark.parametrize(
    ("classification", "note", "reason"),
    [
        (Classification("hard", 0.7, "needs design"), "", "classified hard (0.70): needs design"),
        (Classification("simple", 1.0, ""), "", "classified simple (1.00): "),
        (
            Classification("medium", 0.456, "tests"),
            "unknown task_type 'x'; ",
            "unknown task_type 'x'; classified medium (0.46): tests",
        ),
    ],
)
def test_route_classified_reason(classification: Classification, note: str, reason: str) -> None:
    assert route_classified(classification, TIERS, note).route.reason == reason


@pytest.mark.parametrize(
    ("tiers", "tier"),
    [
        (TIERS, "sonnet"),
        (("only",), "only"),
        (("small", "big"), "big"),
        (("a", "b", "c", "d", "e"), "c"),
    ],
)
def test_route_unclassified_picks_the_middle_tier(tiers: tuple[str, ...], tier: str) -> None:
    decision = route_unclassified("timeout", tiers)
    assert decision.tier == tier
    assert decision.route.strategy == "classifier"
    assert decision.route.complexity is None


@pytest.mark.parametrize(
    ("error", "note", "reason"),
    [
        ("timeout", "", "classifier unavailable (timeout); sent to the middle tier"),
        (
            "models_exhausted",
            "unknown task_type 'x'; ",
            "unknown task_type 'x'; classifier unavailable (models_exhausted); "
            "sent to the middle tier",
        ),
    ],
)
def test_route_unclassified_reason(error: str, note: str, reason: str) -> None:
    assert route_unclassified(error, TIERS, note).route.reason == reason


@pytest.mark.parametrize(
    ("score", "tier", "relation"),
    [(0.0, "haiku", "<"), (0.39, "haiku", "<"), (0.4, "opus", ">="), (1.0, "opus", ">=")],
)
def test_route_learned_cheapest_or_top(score: float, tier: str, relation: str) -> None:
    decision = route_learned(score, 0.4, ("haiku", "sonnet", "opus"))
    assert (decision.tier, decision.route.strategy) == (tier, "learned")
    assert f"{score:.2f} {relation} 0.40" in decision.route.reason
