"""The ``streamrouter eval`` and ``streamrouter calibrate`` commands.

Plain click commands (``streamrouter.cli`` imports this module when one of them runs);
everything heavy (scikit-learn, matplotlib, the embedded stack) is imported when a
command runs. Neither needs the Faust app: the replay runs its own embedded stack.

streamrouter eval --dataset FILE --weak-model COL --strong-model COL
    replays the dataset through the pipeline (embedded broker, simulator in replay mode,
    worker) and reports every policy on the train and test splits
streamrouter calibrate --dataset FILE --weak-model COL --strong-model COL --quality-floor Q
    picks the cascade threshold (or the learned router's cut-off) that meets a target on
    the calibration split and writes it to a policy file (or the router file)
streamrouter calibrate --from-feedback --tier haiku --quality-floor Q
    picks the tier's threshold from the service's own rated results on the broker
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click
import yaml

from streamrouter.commands import option, run

__all__ = ["calibrate", "evaluate"]

LEARNED = "learned"


def _dataset_options(required: bool = True) -> Any:
    """The options of both commands (listed first in their ``--help``); ``calibrate``
    checks them itself, since ``--from-feedback`` needs none."""

    def decorate(command: Any) -> Any:
        for decorator in reversed(
            [
                option(
                    "--dataset", type=click.Path(exists=True, dir_okay=False), required=required
                ),
                option(
                    "--format",
                    "fmt",
                    type=click.Choice(["routellm", "jsonl"]),
                    default=None,
                    help="Default: jsonl for .jsonl files, else RouteLLM CSV.",
                ),
                option("--weak-model", required=required, help="Label column of the weak model."),
                option(
                    "--strong-model", required=required, help="Label column of the strong model."
                ),
                option("--test-fraction", type=float, default=0.33, show_default=True),
                option("--seed", type=int, default=0, show_default=True, help="Split seed."),
                option("--max-tokens", type=int, default=1024, show_default=True),
                option("--limit", type=int, default=0, help="Only the first N rows (0: all)."),
            ]
        ):
            command = decorator(command)
        return command

    return decorate


def _load(
    dataset: str,
    fmt: str | None,
    weak: str,
    strong: str,
    test_fraction: float,
    seed: int,
    limit: int,
) -> tuple[Any, list[tuple[Any, str]]]:
    from streamrouter.eval.dataset import load_dataset, split_examples

    data = load_dataset(dataset, fmt)  # type: ignore[arg-type]
    data.require_models(weak, strong)
    examples = data.examples[:limit] if limit else data.examples
    train, test = split_examples(examples, test_fraction, seed)
    tagged = [(e, "train") for e in train] + [(e, "test") for e in test]
    return data, tagged


def _policy_confidence(policy: str | None) -> tuple[dict[str, float], float | None]:
    """The ``confidence`` weights and the ``haiku`` tier threshold of a policy file."""
    if policy is None:
        return {}, None
    raw = yaml.safe_load(Path(policy).read_text()) or {}
    threshold = next(
        (t.get("threshold") for t in raw.get("tiers") or [] if t.get("name") == "haiku"), None
    )
    return dict(raw.get("confidence") or {}), threshold


def _learned_scores(
    records: Sequence[Any], router_file: str | None, tagged: Sequence[Any], weak: str, strong: str
) -> tuple[list[Any], dict[str, Any]]:
    from streamrouter.routing.learned import LearnedRouter

    if router_file:
        router = LearnedRouter.load(router_file)
    else:
        train = [e for e, split in tagged if split == "train"]
        router = LearnedRouter.train(
            [e.prompt for e in train],
            [e.correct[weak] or not e.correct[strong] for e in train],
            meta={"trained_on": "train split"},
        )
    scores = router.score([r.prompt for r in records])
    scored = [
        replace(r, scores={**r.scores, LEARNED: s}) for r, s in zip(records, scores, strict=True)
    ]
    return scored, router.meta


@click.command("eval")
@_dataset_options()
@option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Policy YAML: its confidence weights and haiku threshold are used.",
)
@option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Write records.jsonl, metrics.json and curves-<split>.png here.",
)
@option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@option(
    "--offline",
    is_flag=True,
    help="Compute records without the pipeline (same decisions, estimated tokens).",
)
@option(
    "--learned-router",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A saved learned router (default: train one on the train split).",
)
@option("--no-learned", is_flag=True, help="Skip the learned router.")
def evaluate(
    dataset: str,
    fmt: str | None,
    weak_model: str,
    strong_model: str,
    test_fraction: float,
    seed: int,
    max_tokens: int,
    limit: int,
    policy: str | None,
    out: str | None,
    as_json: bool,
    offline: bool,
    learned_router: str | None,
    no_learned: bool,
) -> None:
    """Replay a labeled dataset through the pipeline; RouteLLM metrics for each policy."""
    from streamrouter.eval.replay import (
        ReplaySettings,
        offline_records,
        replay_through_pipeline,
    )
    from streamrouter.eval.report import format_reports, reports_json, summarize_split

    data, tagged = _load(dataset, fmt, weak_model, strong_model, test_fraction, seed, limit)
    confidence, threshold = _policy_confidence(policy)
    replay = ReplaySettings(weak_model, strong_model, confidence, max_tokens=max_tokens)
    pipeline = not offline and data.has_responses(weak_model) and data.has_responses(strong_model)
    if pipeline:
        work = Path(out) if out else Path(tempfile.mkdtemp(prefix="streamrouter-eval-"))
        records = run(replay_through_pipeline(data, tagged, replay, work / "replay"))
    else:
        records = offline_records(tagged, replay)
    routers: list[str] = []
    router_meta: dict[str, Any] = {}
    if not no_learned:
        records, router_meta = _learned_scores(
            records, learned_router, tagged, weak_model, strong_model
        )
        routers.append(LEARNED)
    reports = [
        summarize_split(
            split,
            [r for r in records if r.split == split],
            # A router trained here is only reported where it did not train.
            routers=routers if split == "test" or learned_router else [],
            threshold=threshold,
        )
        for split in ("train", "test")
        if any(r.split == split for r in records)
    ]
    extra = {
        "dataset": str(data.path),
        "weak_model": weak_model,
        "strong_model": strong_model,
        "mode": "pipeline" if pipeline else "offline",
        "test_fraction": test_fraction,
        "seed": seed,
        "confidence": confidence,
        "learned_router": router_meta,
    }
    summary = reports_json(reports, extra)
    if out:
        _write_outputs(Path(out), records, reports, summary)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"mode: {extra['mode']}; weak = {weak_model}, strong = {strong_model}")
        print(format_reports(reports))
        if out:
            print(f"wrote {out}/records.jsonl, metrics.json, curves-*.png")


@click.command()
@_dataset_options(required=False)
@option(
    "--split",
    type=click.Choice(["train", "all"]),
    default="train",
    show_default=True,
    help="The calibration rows.",
)
@option("--quality-floor", type=float, default=None, help="Least quality (0..1).")
@option(
    "--strong-share",
    type=float,
    default=None,
    help="Most share of requests calling the strong model (0..1).",
)
@option("--cost-ceiling", type=float, default=None, help="Most USD per request.")
@option(
    "--policy",
    "policy_out",
    type=click.Path(dir_okay=False),
    default="policy.yaml",
    show_default=True,
    help="Policy YAML to write the threshold into (created if missing).",
)
@option("--tier", default="haiku", show_default=True, help="The tier whose threshold.")
@option(
    "--tune-confidence",
    is_flag=True,
    help="Also tune the answer-check confidence weights (written to the policy).",
)
@option(
    "--router",
    "router_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Calibrate this learned router's cut-off instead (trained if missing).",
)
@option(
    "--from-feedback",
    is_flag=True,
    help="Instead of a dataset: the results and ratings on the broker (STREAMROUTER_BROKER); "
    "--tier's threshold for --quality-floor.",
)
def calibrate(
    dataset: str | None,
    fmt: str | None,
    weak_model: str | None,
    strong_model: str | None,
    test_fraction: float,
    seed: int,
    max_tokens: int,
    limit: int,
    split: str,
    quality_floor: float | None,
    strong_share: float | None,
    cost_ceiling: float | None,
    policy_out: str,
    tier: str,
    tune_confidence: bool,
    router_file: str | None,
    from_feedback: bool,
) -> None:
    """Pick the threshold (or cut-off) meeting a target and write it to the policy."""
    from streamrouter.eval.calibration import choose_point, write_threshold

    target = _target(quality_floor, strong_share, cost_ceiling)
    if from_feedback:
        _calibrate_from_feedback(target, tier, Path(policy_out))
        return
    if dataset is None or weak_model is None or strong_model is None:
        raise click.UsageError(
            "give --dataset, --weak-model and --strong-model (or --from-feedback)"
        )
    _, tagged = _load(dataset, fmt, weak_model, strong_model, test_fraction, seed, limit)
    rows = [(e, s) for e, s in tagged if split == "all" or s == "train"]
    if router_file:
        from streamrouter.eval.calibration import write_learned_router

        point = _calibrate_router(rows, weak_model, strong_model, target, router_file)
        write_learned_router(Path(policy_out), Path(router_file), float(point.setting or 0))
        print(f"cut-off {point.setting:.4f} written to {router_file}: {_describe(point)}")
        print(f"{policy_out} now routes with it (router.strategy: learned)")
        return
    confidence, _ = _policy_confidence(policy_out if Path(policy_out).exists() else None)
    weights = _tuned(rows, weak_model, strong_model, confidence, max_tokens, tune_confidence)
    points = _cascade_points(rows, weak_model, strong_model, weights, max_tokens)
    point = choose_point([p for p in points if p.setting is not None], target, len(rows))
    from streamrouter.eval.replay import evaluation_policy

    write_threshold(
        Path(policy_out),
        tier,
        float(point.setting or 0.0),
        default_policy=evaluation_policy(weights, None),
        confidence=weights if tune_confidence else None,
    )
    print(f"{tier} threshold {point.setting:.4f} written to {policy_out}: {_describe(point)}")
    if tune_confidence:
        print(f"confidence weights: {json.dumps(weights)}")


def _calibrate_from_feedback(target: Any, tier: str, policy_out: Path) -> None:
    """``tier``'s threshold from the rated results on the broker, written to the policy
    (a worker following that file takes it up; ``streamrouter.eval.feedback``)."""
    from streamrouter.client import StreamClient
    from streamrouter.config import Policy, load_settings
    from streamrouter.eval.calibration import write_threshold
    from streamrouter.eval.feedback import rated_answers, threshold_for_quality
    from streamrouter.report import latest_verdicts

    if target.kind != "quality":
        raise click.UsageError("--from-feedback takes --quality-floor")
    settings = load_settings()
    client = StreamClient(settings.broker, settings.topics)
    results = run(client.results_so_far(), broker=settings.broker)
    feedback = run(client.feedback_so_far(), broker=settings.broker)
    rated = rated_answers(results, latest_verdicts(feedback), tier)
    found = threshold_for_quality(rated, target.value)
    if found is None:
        raise click.ClickException(
            f"no {tier} threshold keeps {tier}'s answers rated good {target.value:.0%} of the "
            f"time ({len(rated)} rated final answers of {tier}); nothing written"
        )
    # Down to the 6 decimals written: the lowest answer kept is not escalated by rounding.
    threshold = math.floor(found.threshold * 1e6) / 1e6
    default = {"tiers": [t.model_dump(mode="json", exclude_defaults=True) for t in Policy().tiers]}
    write_threshold(policy_out, tier, threshold, default_policy=default)
    print(
        f"{tier} threshold {threshold:.6f} written to {policy_out}: of {found.rated} rated "
        f"final answers ({found.good_share:.1%} good), {found.kept} stay at {tier} "
        f"({found.kept_good_share:.1%} good) and {found.rated - found.kept} would escalate"
    )


def _target(quality: float | None, share: float | None, cost: float | None) -> Any:
    from streamrouter.eval.calibration import Target

    given = [
        (k, v)
        for k, v in (("quality", quality), ("strong_share", share), ("cost", cost))
        if v is not None
    ]
    if len(given) != 1:
        raise click.UsageError(
            "give exactly one of --quality-floor, --strong-share, --cost-ceiling"
        )
    return Target(*given[0])  # type: ignore[arg-type]


def _describe(point: Any) -> str:
    return (
        f"quality {100 * point.quality:.1f}%, strong calls {100 * point.strong_share:.1f}%,"
        f" cost ${point.cost_usd:.4f} on the calibration rows"
    )


def _tuned(
    rows: Sequence[Any],
    weak: str,
    strong: str,
    confidence: dict[str, float],
    max_tokens: int,
    tune: bool,
) -> dict[str, float]:
    if not tune:
        return confidence
    from streamrouter.eval.calibration import tune_confidence_weights
    from streamrouter.eval.metrics import apgr
    from streamrouter.routing.confidence import ConfidenceWeights

    def score(weights: ConfidenceWeights) -> float:
        points = _cascade_points(rows, weak, strong, asdict(weights), max_tokens)
        ends = sorted(points, key=lambda p: p.strong_share)
        return apgr(points, ends[0].quality, ends[-1].quality)

    best, _ = tune_confidence_weights(score, ConfidenceWeights.from_mapping(confidence))
    defaults = asdict(ConfidenceWeights())
    return {k: v for k, v in asdict(best).items() if v != defaults[k] or k in confidence}


def _cascade_points(
    rows: Sequence[Any], weak: str, strong: str, confidence: dict[str, float], max_tokens: int
) -> list[Any]:
    from streamrouter.eval.policies import cascade_points
    from streamrouter.eval.replay import ReplaySettings, offline_records

    settings = ReplaySettings(weak, strong, confidence, max_tokens=max_tokens)
    records = offline_records(rows, settings)
    if any(r.weak.confidence is None for r in records):
        raise click.UsageError(f"{weak!r} has no recorded responses: calibrate --router instead")
    return cascade_points(records)


def _calibrate_router(
    rows: Sequence[Any], weak: str, strong: str, target: Any, router_file: str
) -> Any:
    from streamrouter.eval.calibration import choose_point
    from streamrouter.eval.policies import router_points
    from streamrouter.eval.replay import ReplaySettings, offline_records
    from streamrouter.routing.learned import LearnedRouter

    path = Path(router_file)
    if path.exists():
        router = LearnedRouter.load(path)
    else:
        router = LearnedRouter.train(
            [e.prompt for e, _ in rows],
            [e.correct[weak] or not e.correct[strong] for e, _ in rows],
            meta={"trained_on": "calibration rows"},
        )
    records = offline_records(rows, ReplaySettings(weak, strong))
    points = router_points(records, router.score([r.prompt for r in records]), LEARNED)
    point = choose_point([p for p in points if p.setting is not None], target, len(rows))
    router.with_cutoff(float(point.setting or 0.0)).save(path)
    return point


def _write_outputs(
    out: Path, records: Sequence[Any], reports: Sequence[Any], summary: dict[str, Any]
) -> None:
    from streamrouter.eval.plots import plot_curves
    from streamrouter.eval.records import write_records

    out.mkdir(parents=True, exist_ok=True)
    write_records(out / "records.jsonl", records)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    for report in reports:
        points = dict(report.points)
        if report.calibrated is not None:
            points[report.calibrated.policy] = [report.calibrated]
        plot_curves(
            points,
            out / f"curves-{report.split}.png",
            title=f"{Path(summary['dataset']).name}: {report.split} split "
            f"({report.requests} requests)",
            requests=report.requests,
        )
    print(f"records and curves in {out}", file=sys.stderr)
