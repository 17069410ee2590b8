"""Calibration meets its target on the data it calibrated on, and writes a valid policy."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from streamrouter.config import load_policy
from streamrouter.eval.calibration import (
    CalibrationError,
    Target,
    choose_point,
    tune_confidence_weights,
    write_threshold,
)
from streamrouter.eval.dataset import load_dataset
from streamrouter.eval.metrics import apgr
from streamrouter.eval.policies import all_strong_point, all_weak_point, cascade_point
from streamrouter.eval.policies import cascade_points as sweep
from streamrouter.eval.replay import ReplaySettings, evaluation_policy, offline_records
from streamrouter.routing.confidence import ConfidenceWeights

from .conftest import STRONG, WEAK


def records_of(path: Path, weights: ConfidenceWeights | None = None) -> list:
    confidence = asdict(weights) if weights else {}
    settings = ReplaySettings(WEAK, STRONG, confidence)
    return offline_records([(e, "train") for e in load_dataset(path).examples], settings)


@pytest.mark.parametrize(
    "target",
    [Target("quality", 0.8), Target("strong_share", 0.3), Target("cost", 0.004)],
)
def test_chosen_threshold_meets_its_target(labeled_csv: Path, target: Target) -> None:
    records = records_of(labeled_csv)
    chosen = choose_point(sweep(records), target, len(records))
    assert chosen.setting is not None
    # Re-deciding every record at the chosen threshold meets the target.
    again = cascade_point(records, chosen.setting)
    assert again == chosen
    if target.kind == "quality":
        assert again.quality >= target.value
        assert again.strong_share < 1  # cheaper than sending everything up
    elif target.kind == "strong_share":
        assert again.strong_share <= target.value
        assert again.quality > all_weak_point(records).quality
    else:
        assert again.cost_usd / len(records) <= target.value


def test_unreachable_target_raises(labeled_csv: Path) -> None:
    records = records_of(labeled_csv)
    with pytest.raises(CalibrationError):
        choose_point(sweep(records), Target("quality", 0.99), len(records))


def test_write_threshold_creates_a_loadable_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write_threshold(
        path,
        "haiku",
        0.42,
        default_policy=evaluation_policy({}, None),
        confidence={"revision_penalty": 0.2},
    )
    policy = load_policy(path)
    assert policy.thresholds == {"haiku": 0.42}
    assert policy.weights.revision_penalty == 0.2


def test_write_threshold_keeps_the_rest_of_an_existing_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "tiers": [
                    {"name": "haiku", "model": "claude-haiku-4-5", "threshold": 0.85},
                    {"name": "opus", "model": "claude-opus-4-7"},
                ],
                "task_map": {"summarize": "haiku"},
            }
        )
    )
    write_threshold(path, "haiku", 0.6, default_policy=evaluation_policy({}, None))
    policy = load_policy(path)
    assert policy.thresholds == {"haiku": 0.6}
    assert policy.task_map == {"summarize": "haiku"}
    with pytest.raises(CalibrationError, match="no tier 'sonnet'"):
        write_threshold(path, "sonnet", 0.5, default_policy={})


def test_tuning_never_lowers_the_calibration_apgr(labeled_csv: Path) -> None:
    def score(weights: ConfidenceWeights) -> float:
        records = records_of(labeled_csv, weights)
        weak, strong = all_weak_point(records).quality, all_strong_point(records).quality
        return apgr(sweep(records), weak, strong)

    start = ConfidenceWeights(arithmetic_error_penalty=0.0, unfinished_penalty=0.0)
    tuned, tuned_score = tune_confidence_weights(score, start, rounds=1)
    assert tuned_score >= score(start)
    assert tuned_score == pytest.approx(score(tuned))


def test_tuning_keeps_a_default_unless_moving_it_pays_for_the_shrinkage() -> None:
    # A score that gains 0.005 APGR per 0.1 of revision_penalty above its default 0.1.
    def score(weights: ConfidenceWeights) -> float:
        return 0.5 + 0.05 * (weights.revision_penalty - 0.1)

    kept, _ = tune_confidence_weights(score, shrinkage=0.01)
    assert kept == ConfidenceWeights()
    moved, moved_score = tune_confidence_weights(score, shrinkage=0.0)
    assert moved == ConfidenceWeights(revision_penalty=0.4)
    assert moved_score == pytest.approx(0.515)
