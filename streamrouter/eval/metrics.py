"""RouteLLM's routing metrics, as RouteLLM defines them (``routellm/evals/evaluate.py``).

An operating point of a routing policy is the share of requests that called the strong
model (``strong_share``, 0..1) and the quality it reached (share answered correctly).
With ``weak`` and ``strong`` the qualities of sending everything to one model:

* ``PGR`` (performance gap recovered) at a point: ``(quality - weak) / (strong - weak)``.
* ``APGR``: the area under PGR against strong share. RouteLLM computes it as
  ``(AUC - weak_auc) / (strong_auc - weak_auc)``, each area the trapezoid rule over the
  points' strong shares (sorted); for points spanning shares 0..1 that is the area under
  the PGR curve. A random router scores about 0.5.
* ``CPT(x)`` (call-performance threshold): the least strong share at which the curve
  (linear between points) reaches PGR ``x``. RouteLLM computes ``np.interp`` of the
  target quality over the qualities in share order, which is the same for a curve whose
  quality never falls as the share grows; for any other curve this is the first
  crossing, and ``None`` when the curve never gets there.

Pure functions; no numpy needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CurveMetrics", "OperatingPoint", "apgr", "cpt", "curve_metrics", "pgr"]


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """One setting of a policy and what it achieved on a set of requests."""

    policy: str
    strong_share: float
    """Share of requests that called the strong model, 0..1."""
    quality: float
    """Share of requests whose returned answer was correct, 0..1."""
    cost_usd: float = 0.0
    """Total cost of the requests."""
    latency_ms: float = 0.0
    """Mean latency of the model calls on the request's path."""
    setting: float | None = None
    """The threshold / cut-off that produced the point (None for fixed policies)."""


@dataclass(frozen=True, slots=True)
class CurveMetrics:
    apgr: float
    cpt50: float | None
    cpt80: float | None


def pgr(quality: float, weak: float, strong: float) -> float:
    """Performance gap recovered; ``ValueError`` when the two models tie."""
    if strong == weak:
        raise ValueError("PGR is undefined when the strong and weak qualities are equal")
    return (quality - weak) / (strong - weak)


def _sorted(points: Sequence[OperatingPoint]) -> list[OperatingPoint]:
    return sorted(points, key=lambda p: (p.strong_share, p.quality))


def _trapezoid(ys: Sequence[float], xs: Sequence[float]) -> float:
    return sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(len(xs) - 1))


def apgr(points: Sequence[OperatingPoint], weak: float, strong: float) -> float:
    """Average performance gap recovered over the points' range of strong shares."""
    ordered = _sorted(points)
    if len(ordered) < 2 or ordered[0].strong_share == ordered[-1].strong_share:
        raise ValueError("APGR needs points at two or more strong shares")
    xs = [p.strong_share for p in ordered]
    auc = _trapezoid([p.quality for p in ordered], xs)
    span = xs[-1] - xs[0]
    return (auc - weak * span) / ((strong - weak) * span)


def cpt(
    points: Sequence[OperatingPoint], target_pgr: float, weak: float, strong: float
) -> float | None:
    """The least strong share at which the (piecewise linear) curve reaches ``target_pgr``."""
    target = weak + target_pgr * (strong - weak)
    ordered = _sorted(points)
    rising = strong >= weak

    def reached(quality: float) -> bool:
        return quality >= target if rising else quality <= target

    for index, point in enumerate(ordered):
        if reached(point.quality):
            if index == 0:
                return point.strong_share
            before = ordered[index - 1]
            if point.quality == before.quality:
                return point.strong_share
            fraction = (target - before.quality) / (point.quality - before.quality)
            return before.strong_share + fraction * (point.strong_share - before.strong_share)
    return None


def curve_metrics(points: Sequence[OperatingPoint], weak: float, strong: float) -> CurveMetrics:
    return CurveMetrics(
        apgr=apgr(points, weak, strong),
        cpt50=cpt(points, 0.5, weak, strong),
        cpt80=cpt(points, 0.8, weak, strong),
    )
