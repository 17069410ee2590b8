"""Calibration: pick a policy setting that meets a target, and write it to a policy file.

A target is one of: a quality floor (the least strong share whose quality reaches it),
a strong-call share ceiling, or a cost ceiling per request (the best quality within it).
``choose_point`` picks from a policy's operating points measured on a calibration set;
``write_threshold`` puts a cascade threshold into a routing policy YAML file.
``tune_confidence_weights`` searches the answer-check weights of the escalation
confidence for the best APGR on a calibration set (coordinate ascent on a coarse grid,
shrunk toward the default weights).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from streamrouter.eval.metrics import OperatingPoint, apgr
from streamrouter.routing.confidence import ConfidenceWeights

__all__ = [
    "GRID",
    "SHRINKAGE",
    "TUNED_WEIGHTS",
    "CalibrationError",
    "Target",
    "choose_point",
    "tune_confidence_weights",
    "write_learned_router",
    "write_threshold",
]

TUNED_WEIGHTS = (
    "arithmetic_error_penalty",
    "unfinished_penalty",
    "unmarked_answer_penalty",
    "revision_penalty",
    "approximation_penalty",
    "conflicting_answer_penalty",
    "unsupported_answer_penalty",
    "rounded_intermediate_penalty",
    "fractional_answer_penalty",
    "hedging_penalty",
    "length_penalty_per_1k_chars",
)
"""The weights ``tune_confidence_weights`` searches (the rest keep their values)."""

GRID = (0.0, 0.1, 0.2, 0.4)
"""Coarse on purpose: finer steps fit the calibration rows' noise, not the signal."""

SHRINKAGE = 0.01
"""APGR a weight must earn per 0.1 it moves away from its starting value (the default)."""


class CalibrationError(ValueError):
    """No operating point meets the target on the calibration set."""


@dataclass(frozen=True, slots=True)
class Target:
    kind: Literal["quality", "strong_share", "cost"]
    value: float
    """Quality floor (0..1), strong share ceiling (0..1), or USD per request."""


def choose_point(points: Sequence[OperatingPoint], target: Target, requests: int) -> OperatingPoint:
    """The operating point that meets ``target`` (``requests``: to turn cost per request
    into a total). Quality floor: the least strong share reaching it (then the cheapest);
    share or cost ceiling: the best quality within it (then the least share)."""
    if target.kind == "quality":
        meeting = [p for p in points if p.quality >= target.value]
        key = lambda p: (p.strong_share, p.cost_usd)  # noqa: E731
    elif target.kind == "strong_share":
        meeting = [p for p in points if p.strong_share <= target.value]
        key = lambda p: (-p.quality, p.strong_share)  # noqa: E731
    else:
        meeting = [p for p in points if p.cost_usd / requests <= target.value]
        key = lambda p: (-p.quality, p.cost_usd)  # noqa: E731
    if not meeting:
        raise CalibrationError(f"no operating point meets {target.kind} {target.value}")
    return min(meeting, key=key)


def write_learned_router(path: Path, router_file: Path, cutoff: float) -> dict[str, Any]:
    """Make the learned router the policy's route strategy (other keys are kept)."""
    policy = _read_policy(path) if path.exists() else {}
    policy["router"] = {
        "strategy": "learned",
        "learned_path": str(router_file.resolve()),
        "cutoff": round(float(cutoff), 6),
    }
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return policy


def _read_policy(path: Path) -> dict[str, Any]:
    policy = yaml.safe_load(path.read_text()) or {}
    if not isinstance(policy, dict):
        raise CalibrationError(f"policy file {path} must hold a mapping")
    return policy


def write_threshold(
    path: Path,
    tier: str,
    threshold: float,
    *,
    default_policy: Mapping[str, Any],
    confidence: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Set ``tier``'s threshold in the policy file at ``path`` (``default_policy`` if the
    file does not exist yet) and, if given, its ``confidence`` weights. Returns the policy
    written. Other keys of an existing file are kept."""
    policy = _read_policy(path) if path.exists() else dict(default_policy)
    tiers = policy.get("tiers") or [dict(t) for t in default_policy.get("tiers", [])]
    for entry in tiers:
        if entry.get("name") == tier:
            entry["threshold"] = round(float(threshold), 6)
            break
    else:
        names = [entry.get("name") for entry in tiers]
        raise CalibrationError(f"policy {path} has no tier {tier!r} (tiers: {names})")
    policy["tiers"] = tiers
    if confidence is not None:
        policy["confidence"] = {**(policy.get("confidence") or {}), **confidence}
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return policy


def tune_confidence_weights(
    evaluate: Any,
    start: ConfidenceWeights | None = None,
    names: Iterable[str] = TUNED_WEIGHTS,
    grid: Sequence[float] = GRID,
    rounds: int = 3,
    shrinkage: float = SHRINKAGE,
) -> tuple[ConfidenceWeights, float]:
    """Coordinate ascent on a regularised score: each weight in turn takes the grid
    value with the best ``evaluate(weights) - shrinkage * distance / 0.1``, where
    ``distance`` is how far all weights are from ``start`` (L1); ties keep the current
    value. Stops when a round changes nothing. Returns the weights and their
    (unregularised) ``evaluate`` score.

    The shrinkage keeps a weight at its default unless moving it pays for itself on the
    calibration rows, so a few rows that happen to favour a signal do not reshape the
    confidence (the cross-validated estimate in docs/evaluation.md measures this)."""
    known = {f.name for f in fields(ConfidenceWeights)}
    names = [n for n in names if n in known]
    origin = start or ConfidenceWeights()

    def regularised(weights: ConfidenceWeights) -> tuple[float, float]:
        score = evaluate(weights)
        distance = sum(abs(getattr(weights, n) - getattr(origin, n)) for n in names)
        return score - shrinkage * distance / 0.1, score

    best = origin
    best_objective, best_score = regularised(best)
    for _ in range(rounds):
        changed = False
        for name in names:
            for value in grid:
                if value == getattr(best, name):
                    continue
                candidate = replace(best, **{name: value})
                objective, score = regularised(candidate)
                if objective > best_objective + 1e-12:
                    best, best_objective, best_score, changed = (
                        candidate,
                        objective,
                        score,
                        True,
                    )
        if not changed:
            break
    return best, best_score


def cascade_apgr_of(points: Sequence[OperatingPoint], weak: float, strong: float) -> float:
    return apgr(points, weak, strong)
