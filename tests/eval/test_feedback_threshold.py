"""A tier's threshold from rated answers of the service's own traffic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamrouter.eval.feedback import RatedAnswer, rated_answers, threshold_for_quality
from streamrouter.events import Attempt, LLMResult

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def rated(*pairs: tuple[float, bool]) -> list[RatedAnswer]:
    return [RatedAnswer(confidence, good) for confidence, good in pairs]


def test_the_lowest_threshold_whose_kept_answers_meet_the_floor() -> None:
    answers = rated((0.86, False), (0.88, True), (0.90, False), (0.93, True), (0.97, True))
    found = threshold_for_quality(answers, floor=0.75)
    assert found is not None
    assert (found.threshold, found.kept, found.kept_good_share) == (0.88, 4, 0.75)
    assert (found.rated, found.good_share) == (5, 0.6)
    assert threshold_for_quality(answers, floor=0.6).threshold == 0.86  # type: ignore[union-attr]
    assert threshold_for_quality(answers, floor=1.0).threshold == 0.93  # type: ignore[union-attr]


def test_equal_confidences_stay_together_and_an_unmet_floor_is_none() -> None:
    answers = rated((0.9, True), (0.9, False), (0.95, False))
    # 0.95 alone is all bad; 0.9 keeps all three at a third good.
    assert threshold_for_quality(answers, floor=0.5) is None
    assert threshold_for_quality([], floor=0.5) is None


def result(rid: str, tier: str, confidence: float | None, status: str = "ok") -> LLMResult:
    attempt = Attempt(tier=tier, model="m", outcome="answered", confidence=confidence)
    return LLMResult(
        request_id=rid,
        tenant="t",
        status=status,  # type: ignore[arg-type]
        tier=tier,
        attempts=[attempt],
        completed_at=NOW,
    )


def test_only_the_tier_s_rated_final_answers_count() -> None:
    results = [
        result("a", "haiku", 0.9),
        result("b", "sonnet", 0.9),  # another tier
        result("c", "haiku", 0.8),  # no verdict
        result("d", "haiku", 0.7, status="error"),
        result("e", "haiku", None),  # pinned: not judged
    ]
    verdicts = {"a": True, "b": False, "d": True, "e": True}
    assert rated_answers(results, verdicts, "haiku") == [RatedAnswer(0.9, True)]


@pytest.mark.parametrize("floor", [0.0, 0.5])
def test_a_floor_every_answer_meets_keeps_the_lowest_confidence(floor: float) -> None:
    found = threshold_for_quality(rated((0.7, True), (0.8, True)), floor)
    assert found is not None and found.threshold == 0.7 and found.kept == 2
