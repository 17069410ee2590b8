"""The answer checks behind the escalation confidence (streamrouter.routing.answer_checks)."""

from __future__ import annotations

import pytest

from streamrouter.routing.answer_checks import (
    arithmetic_errors,
    calculations,
    has_final_answer_marker,
    looks_unfinished,
)
from streamrouter.routing.confidence import ConfidenceWeights, ResponseSignals, combine_confidence


@pytest.mark.parametrize(
    ("text", "errors", "checked"),
    [
        ("12 x 3 = 38", 1, 1),
        ("12 x 3 = 36", 0, 1),
        ("3 \u00d7 4 = 12 and 10 \u00f7 4 = 2.5", 0, 2),
        ("a total of $1,200 + $300 = $1,500", 0, 1),
        ("So 6 x 6 = 36 / 12 = 3 pizzas", 0, 1),  # a running total, not an error
        ("2 + 3 = 5 + 4 = 9", 0, 1),  # 5 carries on: only 5 + 4 = 9 is checked
        ("2 + 3 = 6 + 4 = 10", 1, 2),
        ("4 points * 1.25 = 5 points", 0, 0),  # the left side continues a word
        ("6s + 9 = 3 * (s + 9)", 0, 0),  # algebra, not arithmetic
        ("25% of 80 = 20", 0, 0),  # no calculation stated
        ("(4/20)*100% = 20%", 0, 1),
        ("0.27 rounded: 4/15 = 0.27", 0, 1),  # within rounding
        ("<<15*2=30>>30 cups", 0, 1),
        ("<<15*2=31>>31 cups", 1, 1),
        ("<<220*4000=880000>>880,00", 1, 1),  # the shown number is not the result
        ("The function returns the sum of both arguments.", 0, 0),
    ],
)
def test_arithmetic(text: str, errors: int, checked: int) -> None:
    assert arithmetic_errors(text) == errors
    assert calculations(text) == checked


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("So the total is 12.\n#### 12", True),
        ("\\boxed{12}", True),
        ("The answer is 12.", True),
        ("Final answer: 12", True),
        ("Answer: B", True),
        ("So, she needs 20 cups.", False),
    ],
)
def test_final_answer_marker(text: str, marked: bool) -> None:
    assert has_final_answer_marker(text) is marked


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("100 + 200 = <<100+20", True),
        ("the total is 5 +", True),
        ("we compute (3 + 4", True),
        ("fix: handle empty input", False),
        ("Done.", False),
        ("", False),
    ],
)
def test_unfinished(text: str, unfinished: bool) -> None:
    assert looks_unfinished(text) is unfinished


def confidence(answer: str) -> float:
    signals = ResponseSignals(
        self_confidence=None,
        answer=answer,
        stop_reason="tool_use",
        output_tokens=50,
        max_tokens=1024,
        tool_calls=1,
    )
    return combine_confidence(signals, ConfidenceWeights())


def test_each_check_lowers_the_confidence_of_a_worked_answer() -> None:
    clean = confidence("She has 12 + 15 = 27 marbles.\n#### 27")
    assert confidence("She has 12 + 15 = 28 marbles.\n#### 28") < clean
    assert confidence("She has 12 + 15 = 27 marbles.") < clean  # no marked answer
    assert confidence("She has 12 + 15 = <<12+15") < clean
    assert confidence("Wait, she has 12 + 15 = 27 marbles.\n#### 27") < clean
    assert confidence("She has approximately 12 + 15 = 27.\n#### 27") < clean
    # Plain prose without calculations is not asked for a final-answer marker.
    assert confidence("The function returns the sum of both arguments.") == 0.5
