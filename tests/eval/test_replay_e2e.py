"""A small labeled dataset replayed through the real pipeline: embedded broker, the
simulator in replay mode, a worker process."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrouter.eval.dataset import load_dataset, split_examples
from streamrouter.eval.metrics import curve_metrics
from streamrouter.eval.policies import cascade_points, offline_confidence
from streamrouter.eval.replay import ReplaySettings, offline_records, replay_through_pipeline
from streamrouter.eval.report import format_reports, summarize_split

from .conftest import STRONG, STRONG_ANSWER, WEAK, labeled_rows, write_csv

pytestmark = pytest.mark.e2e


async def test_replay_through_the_pipeline(tmp_path: Path) -> None:
    data = load_dataset(write_csv(tmp_path / "small.csv", labeled_rows(24)))
    train, test = split_examples(data.examples, 0.5)
    tagged = [(e, "train") for e in train] + [(e, "test") for e in test]
    settings = ReplaySettings(WEAK, STRONG, timeout_s=120)

    records = await replay_through_pipeline(
        data, tagged, settings, tmp_path / "run", progress=False
    )

    assert len(records) == 24
    by_prompt = {r.prompt: r for r in records}
    for example, split in tagged:
        record = by_prompt[example.prompt]
        assert record.split == split
        assert (record.weak_correct, record.strong_correct) == (
            example.correct[WEAK],
            example.correct[STRONG],
        )
        # The worker's combined confidence is the one computed from the recorded answer.
        assert record.weak.confidence == pytest.approx(
            offline_confidence(example.responses[WEAK], max_tokens=1024)
        )
        assert record.weak.recorded and record.strong.recorded
        assert record.weak.model == "claude-haiku-4-5"
        assert record.strong.model == "claude-opus-4-7"
        assert record.weak.cost_usd > 0 and record.strong.cost_usd > 0
        # The strong call carried the escalation context: more input than the weak call.
        assert record.strong.input_tokens > record.weak.input_tokens
    # Same decisions as offline; only the token counts are the pipeline's own.
    offline = {r.prompt: r for r in offline_records(tagged, settings)}
    assert all(
        offline[p].weak.confidence == pytest.approx(r.weak.confidence) for p, r in by_prompt.items()
    )

    points = cascade_points(records)
    weak = min(points, key=lambda p: p.strong_share).quality
    strong = max(points, key=lambda p: p.strong_share).quality
    assert curve_metrics(points, weak, strong).apgr > 0.6  # flawed answers escalate first
    report = summarize_split("all", records)
    assert "cascade" in format_reports([report])
    assert STRONG_ANSWER  # the strong answers were served from the recording (checked above)
