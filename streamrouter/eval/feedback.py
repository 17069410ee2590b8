"""A tier's threshold from the service's own traffic: its results and their ratings.

A rated answer a tier gave as final carries the combined confidence it was judged with.
The threshold chosen is the lowest of those confidences at which the answers kept (those
at or above it) are rated good at least ``floor`` of the time; the ones below it would
have escalated. Only answers above the threshold in force were final, so the ratings can
raise a threshold, never show that a lower one would do: that needs ratings of the
escalated requests' cheaper drafts (shadow judging).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from streamrouter.events import LLMResult

__all__ = ["FeedbackThreshold", "RatedAnswer", "rated_answers", "threshold_for_quality"]


@dataclass(frozen=True)
class RatedAnswer:
    confidence: float
    good: bool


@dataclass(frozen=True)
class FeedbackThreshold:
    threshold: float
    rated: int  # the tier's rated final answers
    good_share: float  # of all of them
    kept: int  # at or above the threshold: still answered by the tier
    kept_good_share: float


def rated_answers(
    results: Iterable[LLMResult], verdicts: Mapping[str, bool], tier: str
) -> list[RatedAnswer]:
    """The final answers ``tier`` gave that have a verdict, with their confidence."""
    rated = []
    for result in results:
        if result.tier != tier or result.status != "ok" or result.request_id not in verdicts:
            continue
        answering = [a for a in result.attempts if a.tier == tier and a.outcome == "answered"]
        if answering and answering[-1].confidence is not None:
            rated.append(RatedAnswer(answering[-1].confidence, verdicts[result.request_id]))
    return rated


def threshold_for_quality(rated: Sequence[RatedAnswer], floor: float) -> FeedbackThreshold | None:
    """The lowest threshold keeping answers rated good at least ``floor`` of the time;
    None if no threshold does (or nothing is rated)."""
    ordered = sorted(rated, key=lambda r: r.confidence)
    good_above = sum(r.good for r in ordered)  # good answers at or above ordered[i]
    for i, answer in enumerate(ordered):
        kept = len(ordered) - i
        first_of_its_value = i == 0 or ordered[i - 1].confidence < answer.confidence
        if first_of_its_value and good_above / kept >= floor:
            return FeedbackThreshold(
                threshold=answer.confidence,
                rated=len(ordered),
                good_share=sum(r.good for r in ordered) / len(ordered),
                kept=kept,
                kept_good_share=good_above / kept,
            )
        good_above -= answer.good
    return None
