"""RouteLLM's metrics against hand-computed values."""

from __future__ import annotations

import pytest

from streamrouter.eval.metrics import OperatingPoint, apgr, cpt, curve_metrics, pgr


def curve(*pairs: tuple[float, float]) -> list[OperatingPoint]:
    return [OperatingPoint("p", share, quality) for share, quality in pairs]


def test_pgr() -> None:
    assert pgr(0.7, weak=0.6, strong=0.8) == pytest.approx(0.5)
    assert pgr(0.6, weak=0.6, strong=0.8) == pytest.approx(0.0)
    assert pgr(0.85, weak=0.6, strong=0.8) == pytest.approx(1.25)
    with pytest.raises(ValueError):
        pgr(0.5, weak=0.6, strong=0.6)


def test_apgr_of_the_straight_line_is_one_half() -> None:
    # Random routing: quality rises linearly from weak to strong.
    assert apgr(curve((0, 0.6), (0.5, 0.7), (1, 0.8)), 0.6, 0.8) == pytest.approx(0.5)


def test_apgr_hand_computed() -> None:
    # PGR 0, 0.75, 1 at shares 0, 0.25, 1: area = 0.25*0.375 + 0.75*0.875 = 0.75
    points = curve((0, 0.6), (0.25, 0.75), (1, 0.8))
    assert apgr(points, 0.6, 0.8) == pytest.approx(0.75)
    # Order of the points does not matter.
    assert apgr(list(reversed(points)), 0.6, 0.8) == pytest.approx(0.75)


def test_apgr_over_a_partial_range_is_routellms_normalised_area() -> None:
    # RouteLLM: (AUC - weak_auc) / (strong_auc - weak_auc) over the points' own range.
    # Shares 0.2..0.6, qualities 0.6 -> 0.8: AUC 0.28, weak 0.24, strong 0.32 -> 0.5
    assert apgr(curve((0.2, 0.6), (0.6, 0.8)), 0.6, 0.8) == pytest.approx(0.5)


def test_apgr_needs_two_shares() -> None:
    with pytest.raises(ValueError):
        apgr(curve((0.5, 0.7)), 0.6, 0.8)


def test_cpt_interpolates_the_first_crossing() -> None:
    points = curve((0, 0.6), (0.25, 0.75), (1, 0.8))
    # PGR 0.5 = quality 0.7: on the first segment, 2/3 of the way to 0.25.
    assert cpt(points, 0.5, 0.6, 0.8) == pytest.approx(0.25 * (0.1 / 0.15))
    # PGR 0.8 = quality 0.76: 0.25 + 0.75 * (0.01 / 0.05) = 0.4
    assert cpt(points, 0.8, 0.6, 0.8) == pytest.approx(0.4)
    assert cpt(points, 0.0, 0.6, 0.8) == pytest.approx(0.0)


def test_cpt_never_reached_is_none() -> None:
    assert cpt(curve((0, 0.6), (1, 0.7)), 0.8, 0.6, 0.8) is None


def test_cpt_of_a_non_monotone_curve_is_the_first_crossing() -> None:
    # np.interp would need monotone qualities; the first crossing is at share 0.2.
    points = curve((0, 0.6), (0.2, 0.8), (0.5, 0.7), (1, 0.8))
    assert cpt(points, 0.8, 0.6, 0.8) == pytest.approx(0.2 * (0.16 / 0.2))


def test_curve_metrics_of_random() -> None:
    metrics = curve_metrics(curve((0, 0.6), (1, 0.8)), 0.6, 0.8)
    assert metrics.apgr == pytest.approx(0.5)
    assert metrics.cpt50 == pytest.approx(0.5)
    assert metrics.cpt80 == pytest.approx(0.8)
