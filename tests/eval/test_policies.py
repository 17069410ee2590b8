"""Policies decide on records exactly as the pipeline would."""

from __future__ import annotations

import pytest

from streamrouter.eval.policies import (
    all_strong_point,
    all_weak_point,
    cascade_point,
    cascade_points,
    escalates,
    offline_confidence,
    random_points,
    router_points,
)
from streamrouter.eval.records import CallRecord, RequestRecord
from streamrouter.routing.confidence import ConfidenceWeights

from .conftest import CLEAN, UNFINISHED, UNMARKED, WRONG_SUM


def record(index: int, confidence: float, weak_ok: bool, strong_ok: bool) -> RequestRecord:
    weak = CallRecord("claude-haiku-4-5", confidence, 100, 10, 0.001, 5.0)
    strong = CallRecord("claude-opus-4-7", 0.5, 150, 20, 0.01, 7.0)
    return RequestRecord(f"r{index}", f"p{index}", "test", weak_ok, strong_ok, weak, strong, 0.008)


RECORDS = [
    record(0, 0.2, False, True),
    record(1, 0.3, True, True),
    record(2, 0.5, False, True),
    record(3, 0.9, True, False),
]


def test_fixed_policies() -> None:
    weak, strong = all_weak_point(RECORDS), all_strong_point(RECORDS)
    assert (weak.strong_share, weak.quality, weak.cost_usd) == (0, 0.5, pytest.approx(0.004))
    assert (strong.strong_share, strong.quality, strong.cost_usd) == (
        1,
        0.75,
        pytest.approx(0.032),
    )


def test_cascade_point_escalates_strictly_below_the_threshold() -> None:
    point = cascade_point(RECORDS, 0.5)  # 0.2 and 0.3 escalate; 0.5 answers
    assert point.strong_share == 0.5
    assert point.quality == pytest.approx(0.75)  # r0 fixed, r1 still right, r2 wrong, r3 right
    assert point.cost_usd == pytest.approx(4 * 0.001 + 2 * 0.01)
    assert point.latency_ms == pytest.approx((4 * 5 + 2 * 7) / 4)
    assert escalates(0.49, 0.5) and not escalates(0.5, 0.5)


def test_cascade_sweep_spans_none_to_all() -> None:
    points = cascade_points(RECORDS)
    shares = sorted(p.strong_share for p in points)
    assert shares[0] == 0 and shares[-1] == 1
    assert [p.setting for p in points] == [0.0, 0.2, 0.3, 0.5, 0.9, 1.0]


def test_router_points_strong_at_or_above_the_cut() -> None:
    points = router_points(RECORDS, [0.9, 0.1, 0.8, 0.2], "learned")
    by_cut = {p.setting: p for p in points}
    assert by_cut[0.8].strong_share == 0.5 and by_cut[0.8].quality == pytest.approx(1.0)
    assert by_cut[None].strong_share == 0  # the cut above every score
    assert by_cut[0.1].cost_usd == pytest.approx(4 * 0.008)


def test_random_is_the_straight_line_on_average() -> None:
    points = random_points(RECORDS, seeds=200)
    assert [p.strong_share for p in points] == [0, 0.25, 0.5, 0.75, 1]
    assert points[0].quality == 0.5 and points[-1].quality == 0.75
    assert points[2].quality == pytest.approx(0.625, abs=0.03)


@pytest.mark.parametrize("flawed", [WRONG_SUM, UNFINISHED, UNMARKED])
def test_offline_confidence_ranks_flawed_answers_below_clean(flawed: str) -> None:
    weights = ConfidenceWeights()
    clean = offline_confidence(CLEAN, max_tokens=1024, weights=weights)
    assert offline_confidence(flawed, max_tokens=1024, weights=weights) < clean


def test_offline_confidence_of_a_cut_answer_counts_max_tokens() -> None:
    long = "word " * 400
    assert offline_confidence(long, max_tokens=100) < offline_confidence(long, max_tokens=4000)
