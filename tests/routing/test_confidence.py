from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from streamrouter.routing.answer import ParsedAnswer
from streamrouter.routing.confidence import (
    ConfidenceWeights,
    ResponseSignals,
    combine_confidence,
    count_hedges,
)
from streamrouter.routing.escalation import escalate_if_unsure

# Weights with shrinkage off, so expected values are easy to read.
PLAIN = ConfidenceWeights(self_report=1.0)
ANSWER = "The function returns the sum of both arguments."


def signals(**overrides: Any) -> ResponseSignals:
    base = ResponseSignals(
        self_confidence=0.9,
        answer=ANSWER,
        stop_reason="tool_use",
        output_tokens=50,
        max_tokens=1024,
        tool_calls=1,
    )
    return replace(base, **overrides)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, 0.9, id="clean"),
        pytest.param({"self_confidence": None}, 0.5, id="no-self-report-uses-prior"),
        pytest.param({"self_confidence": 1.7}, 1.0, id="self-report-clamped-high"),
        pytest.param({"self_confidence": -0.5}, 0.0, id="self-report-clamped-low"),
        pytest.param({"self_confidence": math.nan}, 0.5, id="nan-self-report-is-none"),
        pytest.param({"stop_reason": "max_tokens"}, 0.6, id="max-tokens-stop"),
        pytest.param({"output_tokens": 1024}, 0.6, id="output-hit-max-tokens"),
        pytest.param({"answer": "Maybe it returns 4."}, 0.85, id="one-hedge"),
        pytest.param({"answer": "I think maybe, possibly."}, 0.75, id="three-hedges"),
        pytest.param(
            {"answer": "Maybe. Probably. Possibly. Might. Unclear. It depends."},
            0.75,
            id="hedges-capped",
        ),
        pytest.param({"answer": ""}, 0.0, id="empty-answer"),
        pytest.param({"answer": "  \n "}, 0.0, id="blank-answer"),
        pytest.param({"answer": "", "self_confidence": 1.0}, 0.0, id="empty-beats-self-report"),
        pytest.param({"answer": "4"}, 0.8, id="short-answer"),
        pytest.param({"answer": "yes"}, 0.9, id="min-length-answer-ok"),
        pytest.param({"answer": "x" * 400, "max_tokens": 100}, 0.8, id="long-answer"),
        pytest.param({"answer": "x" * 360, "max_tokens": 100}, 0.9, id="long-at-ratio-ok"),
        pytest.param(
            {"answer": "x" * 400, "max_tokens": 100, "stop_reason": "max_tokens"},
            0.6,
            id="long-not-double-counted-with-truncation",
        ),
        pytest.param({"max_tokens": 0, "output_tokens": 0}, 0.9, id="no-max-tokens"),
        pytest.param({"tool_calls": 0, "self_confidence": None}, 0.4, id="format-ignored-no-tool"),
        pytest.param({"tool_calls": 0}, 0.9, id="json-schema-mode-no-tool-is-fine"),
        pytest.param({"tool_calls": 3}, 0.85, id="extra-tool-calls"),
        pytest.param(
            {
                "self_confidence": 0.1,
                "stop_reason": "max_tokens",
                "answer": "maybe",
                "tool_calls": 2,
            },
            0.0,
            id="clamped-at-zero",
        ),
    ],
)
def test_combine_confidence(overrides: dict[str, Any], expected: float) -> None:
    assert combine_confidence(signals(**overrides), PLAIN) == pytest.approx(expected)


def test_default_weights_shrink_toward_prior() -> None:
    weights = ConfidenceWeights()
    assert combine_confidence(signals(self_confidence=1.0)) == pytest.approx(
        weights.self_report + (1 - weights.self_report) * weights.prior
    )
    assert combine_confidence(signals(self_confidence=0.0)) == pytest.approx(
        (1 - weights.self_report) * weights.prior
    )


@pytest.mark.parametrize(
    "answer",
    ["maybe", "I think so", "I'm not certain", "I\u2019m not certain", "it   depends", "MIGHT"],
)
def test_hedging_lowers_confidence(answer: str) -> None:
    assert combine_confidence(signals(answer=answer)) < combine_confidence(signals())


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("The mighty oak is mighty.", 0),
        ("maybe-ish", 1),
        ("Maybe, maybe not.", 2),
        ("I'm not certain; it's unclear and I cannot determine it.", 3),
        ("Not Sure", 1),
        ("probablyness", 0),
        ("I thinker", 0),
    ],
)
def test_count_hedges(text: str, count: int) -> None:
    assert count_hedges(text) == count


def test_result_always_in_unit_interval() -> None:
    weights = ConfidenceWeights(self_report=1.0, prior=1.0, max_tokens_penalty=5.0)
    for self_confidence in (None, -10.0, 0.0, 0.5, 1.0, 10.0):
        for stop_reason in (None, "end_turn", "max_tokens"):
            value = combine_confidence(
                signals(self_confidence=self_confidence, stop_reason=stop_reason), weights
            )
            assert 0.0 <= value <= 1.0


def test_missing_answer_value_is_configurable() -> None:
    weights = ConfidenceWeights(missing_answer=0.2)
    assert combine_confidence(signals(answer=""), weights) == 0.2


def test_from_parsed() -> None:
    parsed = ParsedAnswer(answer="42", self_confidence=0.7, reasoning="r", tool_calls=1)
    built = ResponseSignals.from_parsed(
        parsed, stop_reason="end_turn", output_tokens=12, max_tokens=256
    )
    assert built == ResponseSignals(0.7, "42", "end_turn", 12, 256, 1)


def test_from_mapping() -> None:
    weights = ConfidenceWeights.from_mapping({"prior": 0.4, "min_answer_chars": 10})
    assert weights == ConfidenceWeights(prior=0.4, min_answer_chars=10)
    assert ConfidenceWeights.from_mapping({}) == ConfidenceWeights()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prior": 0.4, "hedge_penalty": 0.1}, "hedge_penalty"),
        ({"prior": 1.5}, "prior"),
        ({"self_report": -0.1}, "self_report"),
        ({"max_tokens_penalty": "high"}, "max_tokens_penalty"),
        ({"hedging_penalty": True}, "hedging_penalty"),
        ({"long_answer_penalty": math.inf}, "long_answer_penalty"),
        ({"min_answer_chars": 2.5}, "min_answer_chars"),
        ({"max_answer_ratio": 0}, "max_answer_ratio"),
    ],
)
def test_from_mapping_rejects(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConfidenceWeights.from_mapping(data)


def test_deterministic() -> None:
    sample = signals(answer="Maybe 4", stop_reason="max_tokens", self_confidence=0.77)
    assert len({combine_confidence(sample) for _ in range(5)}) == 1


# The checks meant for worked calculations apply to worked calculations only. With the
# default weights a 0.95 self-report is 0.9 * 0.95 + 0.1 * 0.5 = 0.905; haiku's threshold
# is 0.85, and the revision penalty (0.1) would take it to 0.805.
HAIKU_THRESHOLDS = {"haiku": 0.85, "sonnet": 0.80}
TIERS = ("haiku", "sonnet", "opus")


@pytest.mark.parametrize(
    "answer",
    [
        "Use a queue per tenant. However, keep one consumer group for the whole service.",
        "Return a generator instead of a list; it keeps memory flat.",
        "Actually, the config file is read once at start-up, so restart the worker.",
        "About 300 people came, roughly twice as many as in 2019.",  # approximation words
        "count = 0\nfor item in items:\n    count += 1\n\nUse len(items) instead.",
    ],
)
def test_confident_prose_is_judged_by_the_general_signals_only(answer: str) -> None:
    confidence = combine_confidence(signals(answer=answer, self_confidence=0.95))
    assert confidence == pytest.approx(0.905)
    assert escalate_if_unsure("haiku", confidence, HAIKU_THRESHOLDS, TIERS) is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param("She has 12 + 15 = 27 marbles.\n#### 27", 0.905, id="clean"),
        pytest.param(
            "She has 12 + 15 = 28 marbles. Wait, however, 12 + 15 = 27.\n#### 27",
            0.455,  # a calculation that does not hold 0.35 and revision 0.1
            id="wrong-step-then-revises",
        ),
        pytest.param(
            "The pool holds 6 feet x 4 feet x 5 feet = 120 cubic feet; instead of 120 use 100."
            "\n#### 100",
            0.805,  # revision 0.1, in a calculation with units
            id="units-revises",
        ),
        pytest.param(
            "Each gets roughly 80 / 3 = 26.67 apples.\n#### 27",
            0.705,  # approximation 0.1 and a result rounded mid-way 0.1
            id="approximates-rounds",
        ),
    ],
)
def test_worked_calculations_keep_their_penalties(answer: str, expected: float) -> None:
    confidence = combine_confidence(signals(answer=answer, self_confidence=0.95))
    assert confidence == pytest.approx(expected)


def test_revising_math_answer_at_haiku_still_escalates() -> None:
    answer = "Wait, she has 12 + 15 = 27 marbles.\n#### 27"
    confidence = combine_confidence(signals(answer=answer, self_confidence=0.95))
    assert confidence == pytest.approx(0.805)
    assert escalate_if_unsure("haiku", confidence, HAIKU_THRESHOLDS, TIERS) == "sonnet"


def test_general_signals_still_apply_to_prose() -> None:
    cut = "Use a queue per tenant. However, keep one consumer group for"
    assert combine_confidence(signals(answer=cut + " (see", self_confidence=0.95)) == (
        pytest.approx(0.605)  # unfinished: an unclosed bracket
    )
    assert combine_confidence(
        signals(answer=cut, self_confidence=0.95, stop_reason="max_tokens")
    ) == pytest.approx(0.605)
    assert combine_confidence(
        signals(answer="Maybe use a queue instead.", self_confidence=0.95)
    ) == pytest.approx(0.855)


def test_a_natural_answer_starts_at_the_natural_prior_with_no_tool_penalties() -> None:
    natural = signals(self_confidence=None, tool_calls=0, forced_tool=False)
    forced = replace(natural, forced_tool=True)
    weights = ConfidenceWeights()
    assert combine_confidence(natural) == pytest.approx(
        combine_confidence(forced)
        - weights.prior
        + weights.natural_prior
        + weights.no_tool_call_penalty
    )
    # The caller's own tool calls are not extra calls of the service's tool.
    assert combine_confidence(replace(natural, tool_calls=3)) == combine_confidence(natural)
