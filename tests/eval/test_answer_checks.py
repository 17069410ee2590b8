"""The answer checks behind the escalation confidence (streamrouter.routing.answer_checks)."""

from __future__ import annotations

import pytest

from streamrouter.routing.answer_checks import (
    arithmetic_errors,
    calculations,
    conflicting_final_answers,
    final_answer,
    final_answer_unsupported,
    fractional_final_answer,
    has_final_answer_marker,
    looks_unfinished,
    rounded_intermediate,
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
        ("<<100*2*34+40*2*34=4400+2240=6640>>6640", 1, 1),  # a chained annotation's step
        ("<<2*3+4*5=6+20=26>>26", 0, 1),
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


@pytest.mark.parametrize(
    ("text", "answer", "conflicting", "unsupported", "rounded", "fractional"),
    [
        ("So 5 + 4 = <<5+4=9>>9 apples.\n#### 9", 9, False, False, False, False),
        ("So 5 + 4 = 9 apples.\n#### 4", 4, False, True, False, False),  # not its result
        ("3600 / 6000 = 0.6, or 60%.\n#### 60", 60, False, False, False, False),
        ("16 / 12 = 1.333 dozens, so buy 2.\n#### 2", 2, False, False, True, False),
        ("10/60 = 0.17 h, 15 x 0.17 = 2.55 h.\n#### 2.55", 2.55, False, False, True, True),
        ("<<4/15=0.2666>>0.27 a serving", 0.27, False, False, True, True),
        ("3 x 4 = 12 and 4 / 4 = 1.\n#### 3 and 1", 3, True, True, False, False),
        ("#### 12\nOn second thought:\n#### 14", 14, True, False, False, False),
        ("She has 12 apples.", 12, False, False, False, False),  # no calculation, no marker
        ("The function returns the sum of both arguments.", None, False, False, False, False),
    ],
)
def test_final_answer_checks(
    text: str,
    answer: float | None,
    conflicting: bool,
    unsupported: bool,
    rounded: bool,
    fractional: bool,
) -> None:
    assert final_answer(text) == answer
    assert conflicting_final_answers(text) is conflicting
    assert final_answer_unsupported(text) is unsupported
    assert rounded_intermediate(text) is rounded
    assert fractional_final_answer(text) is fractional


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
    assert confidence("She has 12 + 15 = 27 marbles.\n#### 15") < clean  # not its result
    assert confidence("She has 12 + 15 = 27 marbles.\n#### 27 or 28") < clean
    assert confidence("Each has 80 / 3 = 26.67, so 26.67 + 1 = 27.67.\n#### 27.67") < clean
    # A fractional final answer is only a sign in counting problems: off by default.
    assert confidence("It costs 2 x 1.5 = 3 dollars.\n#### 3") == confidence(
        "It costs 2 x 1.25 = 2.5 dollars.\n#### 2.5"
    )
    # Plain prose without calculations is not asked for a final-answer marker.
    assert confidence("The function returns the sum of both arguments.") == 0.5
