from __future__ import annotations

import math

import pytest

from streamrouter.routing.escalation import DEFAULT_THRESHOLDS, escalate_if_unsure, next_tier

TIERS = ("haiku", "sonnet", "opus")


@pytest.mark.parametrize(
    ("tier", "tiers", "expected"),
    [
        ("haiku", TIERS, "sonnet"),
        ("sonnet", TIERS, "opus"),
        ("opus", TIERS, None),
        ("only", ("only",), None),
    ],
)
def test_next_tier(tier: str, tiers: tuple[str, ...], expected: str | None) -> None:
    assert next_tier(tier, tiers) == expected


@pytest.mark.parametrize(("tier", "tiers"), [("gpt", TIERS), ("haiku", ())])
def test_next_tier_unknown(tier: str, tiers: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        next_tier(tier, tiers)


@pytest.mark.parametrize(
    ("tier", "confidence", "expected"),
    [
        ("haiku", 0.84, "sonnet"),
        ("haiku", 0.85, None),  # at the threshold exactly: answer
        ("haiku", 0.99, None),
        ("haiku", 0.0, "sonnet"),
        ("haiku", math.nan, "sonnet"),
        ("sonnet", 0.79, "opus"),
        ("sonnet", 0.80, None),
        ("opus", 0.0, None),  # the top tier always answers
        ("opus", math.nan, None),
    ],
)
def test_escalate_if_unsure_defaults(tier: str, confidence: float, expected: str | None) -> None:
    assert escalate_if_unsure(tier, confidence, DEFAULT_THRESHOLDS, TIERS) == expected


def test_tier_without_threshold_answers() -> None:
    assert escalate_if_unsure("sonnet", 0.1, {"haiku": 0.85}, TIERS) is None


def test_threshold_on_top_tier_is_ignored() -> None:
    assert escalate_if_unsure("opus", 0.1, {"opus": 0.9}, TIERS) is None


def test_custom_tiers() -> None:
    tiers = ("small", "big")
    assert escalate_if_unsure("small", 0.5, {"small": 0.6}, tiers) == "big"


def test_unknown_tier_raises() -> None:
    with pytest.raises(ValueError):
        escalate_if_unsure("gpt", 0.1, DEFAULT_THRESHOLDS, TIERS)


def test_default_thresholds() -> None:
    assert dict(DEFAULT_THRESHOLDS) == {"haiku": 0.85, "sonnet": 0.80}
    with pytest.raises(TypeError):
        DEFAULT_THRESHOLDS["haiku"] = 0.1  # type: ignore[index]
