"""The confidence that decides escalation: the self-report combined with response heuristics.

Self-reported confidence is noisy, so ``combine_confidence`` shrinks it toward a prior and
subtracts penalties for signs of a weak answer. General signals apply to every answer: a
``max_tokens`` stop, hedging words, an abnormally short or long answer, a text that stops
mid-way, an ignored answer format, extra tool calls. Checks meant for worked calculations
apply only to answers that are one (``works_calculation`` in
:mod:`streamrouter.routing.answer_checks`): a stated calculation that does not hold, a
worked calculation with no marked final answer, a final answer that is not one number or
not the result of the answer's own last calculation, a result rounded mid-way,
self-corrections ("however", "instead") and approximations. Ordinary prose that says
"however" is not penalized for it. The weights are a ``ConfidenceWeights`` loaded from the
policy file (``ConfidenceWeights.from_mapping``); the defaults of the answer checks were
tuned on recorded answers (docs/evaluation.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from streamrouter.routing.answer import ParsedAnswer
from streamrouter.routing.answer_checks import (
    arithmetic_errors,
    calculations,
    conflicting_final_answers,
    final_answer_unsupported,
    fractional_final_answer,
    has_final_answer_marker,
    looks_unfinished,
    rounded_intermediate,
    works_calculation,
)

__all__ = [
    "APPROXIMATION_WORDS",
    "HEDGING_WORDS",
    "REVISION_WORDS",
    "ConfidenceWeights",
    "ResponseSignals",
    "combine_confidence",
    "count_hedges",
]

HEDGING_WORDS: Final = (
    "i think",
    "not sure",
    "might",
    "maybe",
    "possibly",
    "probably",
    "unclear",
    "i'm not certain",
    "it depends",
    "cannot determine",
)

REVISION_WORDS: Final = (
    "however",
    "wait",
    "actually",
    "mistake",
    "correction",
    "re-evaluate",
    "reevaluate",
    "reconsider",
    "let me recheck",
    "instead",
)
"""Signs that a worked calculation revises itself on the way (not counted in prose)."""

APPROXIMATION_WORDS: Final = (
    "approximately",
    "roughly",
    "rounded",
    "round up",
    "round down",
    "to the nearest",
    "\u2248",
)
"""Signs that a worked calculation settles for an approximate result (not in prose)."""


def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(
        r"(?<!\w)(?:"
        + "|".join(
            r"\s+".join(re.escape(word) for word in phrase.split())
            for phrase in sorted(phrases, key=len, reverse=True)
        )
        + r")(?!\w)",
        re.IGNORECASE,
    )


_HEDGE_PATTERN: Final = _phrase_pattern(HEDGING_WORDS)
_REVISION_PATTERN: Final = _phrase_pattern(REVISION_WORDS)
_APPROXIMATION_PATTERN: Final = _phrase_pattern(APPROXIMATION_WORDS)

CHARS_PER_TOKEN: Final = 4
"""Rough characters per output token, to compare an answer's length with ``max_tokens``."""


@dataclass(frozen=True, slots=True)
class ConfidenceWeights:
    """How ``combine_confidence`` weighs each signal. Every penalty is subtracted once.

    Defaults are a starting point, to be tuned against labelled data. The penalties from
    ``arithmetic_error_penalty`` to ``fractional_answer_penalty``, except
    ``unfinished_penalty``, apply only to worked calculations (``works_calculation``).
    """

    self_report: float = 0.9
    """Weight of the self-reported confidence; the rest goes to ``prior`` (shrinkage)."""
    prior: float = 0.5
    """Confidence assumed when the model reported none (and the shrinkage target)."""
    natural_prior: float = 0.9
    """Where a natural answer (no submit_answer tool, so no self-report) starts: above the
    thresholds, so that only visible signs of a weak answer (cut off, hedged, short,
    unfinished) escalate it."""
    max_tokens_penalty: float = 0.3
    """The answer was cut off: ``stop_reason == "max_tokens"`` or output hit ``max_tokens``."""
    hedging_penalty: float = 0.05
    """Per hedging phrase (``HEDGING_WORDS``) found in the answer ..."""
    hedging_cap: float = 0.15
    """... up to this much in total."""
    missing_answer: float = 0.0
    """The confidence, with nothing else considered, of an empty or blank answer."""
    min_answer_chars: int = 3
    """An answer shorter than this (stripped) is abnormally short ..."""
    short_answer_penalty: float = 0.1
    """... and costs this much."""
    max_answer_ratio: float = 0.9
    """An answer longer than this share of ``max_tokens * 4`` characters is abnormally long
    (unless the max_tokens penalty already applies) ..."""
    long_answer_penalty: float = 0.1
    """... and costs this much."""
    no_tool_call_penalty: float = 0.1
    """The model ignored the answer format: no tool call and no structured self-report."""
    extra_tool_calls_penalty: float = 0.05
    """The response made more than one tool call (the forced tool should be the only one)."""
    arithmetic_error_penalty: float = 0.35
    """A calculation stated in the answer does not hold (``12 x 3 = 38``)."""
    unfinished_penalty: float = 0.3
    """The text stops mid-way (an unclosed bracket, a trailing operator or ``=``)."""
    unmarked_answer_penalty: float = 0.2
    """The answer works a calculation but never marks its final answer (``#### 42``,
    ``\\boxed{42}``, ``The answer is 42``, ``Final answer:``)."""
    revision_penalty: float = 0.1
    """A worked calculation revises itself (``REVISION_WORDS``: "however", "wait",
    "actually", ...)."""
    approximation_penalty: float = 0.1
    """A worked calculation settles for an approximation (``APPROXIMATION_WORDS``)."""
    conflicting_answer_penalty: float = 0.2
    """The final answer is not one number (``#### 3 and 1``) or marked answers disagree."""
    unsupported_answer_penalty: float = 0.2
    """The answer works calculations, but its marked final answer is not the last one's
    result (the answer states something its own work did not produce)."""
    rounded_intermediate_penalty: float = 0.1
    """A stated result is rounded from its exact value (``10/3 = 3.33``) and carried on."""
    fractional_answer_penalty: float = 0.0
    """The final answer is not a whole number. Off by default (normal for prices, rates,
    measurements); a domain prior worth turning on for counting word problems (GSM8K)."""
    length_penalty_per_1k_chars: float = 0.0
    """Per 1000 characters of answer: longer answers are wrong more often. Off by default
    (normal for some tasks); worth a small value for short-answer traffic."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            expected = int if field.name == "min_answer_chars" else (int, float)
            if isinstance(value, bool) or not isinstance(value, expected):
                raise ValueError(f"confidence weight {field.name} must be a number: {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"confidence weight {field.name} must be >= 0: {value!r}")
        for name in ("self_report", "prior", "natural_prior", "missing_answer"):
            if getattr(self, name) > 1:
                raise ValueError(f"confidence weight {name} must be in [0, 1]")
        if self.max_answer_ratio == 0:
            raise ValueError("confidence weight max_answer_ratio must be > 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ConfidenceWeights:
        """Build from a policy-file mapping; missing keys keep their defaults.

        Unknown keys (a typo would silently keep a default) and invalid values raise
        ``ValueError`` naming the key.
        """
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown confidence weight(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class ResponseSignals:
    """What ``combine_confidence`` looks at in one model response."""

    self_confidence: float | None
    answer: str
    stop_reason: str | None
    output_tokens: int
    max_tokens: int
    tool_calls: int
    # Asked through the service's submit_answer tool; False for a natural answer, which
    # has no self-report and whose tool calls (the caller's own tools) mean nothing here.
    forced_tool: bool = True

    @classmethod
    def from_parsed(
        cls,
        parsed: ParsedAnswer,
        *,
        stop_reason: str | None,
        output_tokens: int,
        max_tokens: int,
        forced_tool: bool = True,
    ) -> ResponseSignals:
        """Signals of a parsed answer plus the response's ``stop_reason`` and usage."""
        return cls(
            self_confidence=parsed.self_confidence,
            answer=parsed.answer,
            stop_reason=stop_reason,
            output_tokens=output_tokens,
            max_tokens=max_tokens,
            tool_calls=parsed.tool_calls,
            forced_tool=forced_tool,
        )


def count_hedges(text: str) -> int:
    """How many hedging phrases ``text`` contains (whole words, any case, repeats count)."""
    return len(_HEDGE_PATTERN.findall(text.replace("\u2019", "'")))


def combine_confidence(
    signals: ResponseSignals, weights: ConfidenceWeights = ConfidenceWeights()
) -> float:
    """The confidence in [0, 1] that decides escalation. Deterministic.

    With ``w = weights``, ``s = signals`` and ``answer = s.answer.strip()``::

        if not answer: return w.missing_answer
        base = w.self_report * s.self_confidence + (1 - w.self_report) * w.prior
               (or w.prior when there is no self-report;
                w.natural_prior for a natural answer, s.forced_tool False)
        truncated = s.stop_reason == "max_tokens"
                    or (s.max_tokens > 0 and s.output_tokens >= s.max_tokens)
        penalty = w.max_tokens_penalty                  if truncated
                + min(w.hedging_penalty * hedges, w.hedging_cap)
                + w.short_answer_penalty                if len(answer) < w.min_answer_chars
                + w.long_answer_penalty                 if not truncated and s.max_tokens > 0
                      and len(answer) > w.max_answer_ratio * s.max_tokens * 4
                + w.no_tool_call_penalty                if s.forced_tool and s.tool_calls == 0
                                                        and s.self_confidence is None
                + w.extra_tool_calls_penalty            if s.forced_tool and s.tool_calls > 1
                + w.length_penalty_per_1k_chars * len(answer) / 1000
                + w.unfinished_penalty                  if the text stops mid-way
                + math_penalty                          if works_calculation(answer)
        math_penalty =                                  (only for a worked calculation)
                  w.arithmetic_error_penalty            if a stated calculation does not hold
                + w.unmarked_answer_penalty             if it states calculations but marks
                                                        no final answer
                + w.revision_penalty                    if it uses a REVISION_WORDS phrase
                + w.approximation_penalty               if it uses an APPROXIMATION_WORDS phrase
                + w.conflicting_answer_penalty          if its final answer is not one number
                + w.unsupported_answer_penalty          if its final answer is not its last result
                + w.rounded_intermediate_penalty        if it rounds a result mid-way
                + w.fractional_answer_penalty           if its final answer is not whole
        return clamp(base - penalty, 0, 1)

    A self-report outside [0, 1] is clamped first; a NaN one counts as no self-report.
    """
    answer = signals.answer.strip()
    if not answer:
        return weights.missing_answer

    self_confidence = signals.self_confidence
    if self_confidence is None or math.isnan(self_confidence):
        self_confidence = None
        base = weights.prior if signals.forced_tool else weights.natural_prior
    else:
        reported = _clamp(self_confidence)
        base = weights.self_report * reported + (1 - weights.self_report) * weights.prior

    truncated = signals.stop_reason == "max_tokens" or (
        signals.max_tokens > 0 and signals.output_tokens >= signals.max_tokens
    )
    penalty = 0.0
    if truncated:
        penalty += weights.max_tokens_penalty
    penalty += min(weights.hedging_penalty * count_hedges(answer), weights.hedging_cap)
    if len(answer) < weights.min_answer_chars:
        penalty += weights.short_answer_penalty
    if (
        not truncated
        and signals.max_tokens > 0
        and len(answer) > weights.max_answer_ratio * signals.max_tokens * CHARS_PER_TOKEN
    ):
        penalty += weights.long_answer_penalty
    if signals.forced_tool and signals.tool_calls == 0 and self_confidence is None:
        penalty += weights.no_tool_call_penalty
    if signals.forced_tool and signals.tool_calls > 1:
        penalty += weights.extra_tool_calls_penalty
    penalty += _answer_check_penalty(answer, weights)
    return _clamp(base - penalty)


def _answer_check_penalty(answer: str, weights: ConfidenceWeights) -> float:
    """Penalties from reading the answer's own text (see ``answer_checks``): length and an
    unfinished text for every answer, the rest only for a worked calculation."""
    penalty = weights.length_penalty_per_1k_chars * len(answer) / 1000
    if looks_unfinished(answer):
        penalty += weights.unfinished_penalty
    if not works_calculation(answer):
        return penalty
    if arithmetic_errors(answer):
        penalty += weights.arithmetic_error_penalty
    if not has_final_answer_marker(answer) and calculations(answer):
        penalty += weights.unmarked_answer_penalty
    if _REVISION_PATTERN.search(answer):
        penalty += weights.revision_penalty
    if _APPROXIMATION_PATTERN.search(answer):
        penalty += weights.approximation_penalty
    checks = (
        (weights.conflicting_answer_penalty, conflicting_final_answers),
        (weights.unsupported_answer_penalty, final_answer_unsupported),
        (weights.rounded_intermediate_penalty, rounded_intermediate),
        (weights.fractional_answer_penalty, fractional_final_answer),
    )
    for weight, check in checks:
        if weight and check(answer):
            penalty += weight
    return penalty


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))
