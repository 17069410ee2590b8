"""Per-split summaries of every policy, as a text table and as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from streamrouter.eval.metrics import CurveMetrics, OperatingPoint, curve_metrics
from streamrouter.eval.policies import cascade_point, policy_points
from streamrouter.eval.records import RequestRecord

__all__ = ["SplitReport", "format_reports", "reports_json", "summarize_split"]


@dataclass(frozen=True)
class SplitReport:
    split: str
    requests: int
    weak_quality: float
    strong_quality: float
    points: dict[str, list[OperatingPoint]]
    metrics: dict[str, CurveMetrics]
    """For every policy with a curve (cascade, random, routers)."""
    calibrated: OperatingPoint | None = None
    """The cascade at the policy file's threshold, if one was given."""


def summarize_split(
    split: str,
    records: Sequence[RequestRecord],
    *,
    routers: Sequence[str] = (),
    threshold: float | None = None,
) -> SplitReport:
    """Every policy on one split's records (routers: names of ``record.scores``)."""
    with_confidence = all(r.weak.confidence is not None for r in records)
    scores = {name: [r.scores[name] for r in records] for name in routers}
    points = policy_points(records, scores)
    weak = points["all-weak"][0].quality
    strong = points["all-strong"][0].quality
    metrics = {}
    if weak != strong:
        metrics = {
            name: curve_metrics(curve, weak, strong)
            for name, curve in points.items()
            if len(curve) > 1
        }
    calibrated = None
    if threshold is not None and with_confidence:
        calibrated = cascade_point(records, threshold, f"cascade@{threshold:g}")
    return SplitReport(split, len(records), weak, strong, points, metrics, calibrated)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}%"


def format_reports(reports: Sequence[SplitReport]) -> str:
    lines = []
    for report in reports:
        lines.append(
            f"{report.split}: {report.requests} requests; weak quality "
            f"{_pct(report.weak_quality)}, strong quality {_pct(report.strong_quality)}"
        )
        lines.append(
            f"  {'policy':<16} {'APGR':>6} {'CPT(50%)':>9} {'CPT(80%)':>9} "
            f"{'quality':>8} {'strong':>7} {'cost/1k req':>12}"
        )
        for name, curve in report.points.items():
            if len(curve) == 1:
                point = curve[0]
                lines.append(
                    f"  {name:<16} {'':>6} {'':>9} {'':>9} {_pct(point.quality):>8} "
                    f"{_pct(point.strong_share):>7} "
                    f"{1000 * point.cost_usd / report.requests:>12.4f}"
                )
                continue
            m = report.metrics.get(name)
            if m is None:
                continue
            lines.append(f"  {name:<16} {m.apgr:>6.3f} {_pct(m.cpt50):>9} {_pct(m.cpt80):>9}")
        if report.calibrated is not None:
            p = report.calibrated
            lines.append(
                f"  {p.policy:<16} {'':>6} {'':>9} {'':>9} {_pct(p.quality):>8} "
                f"{_pct(p.strong_share):>7} {1000 * p.cost_usd / report.requests:>12.4f}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def reports_json(reports: Sequence[SplitReport], extra: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **extra,
        "splits": {
            report.split: {
                "requests": report.requests,
                "weak_quality": report.weak_quality,
                "strong_quality": report.strong_quality,
                "metrics": {name: asdict(m) for name, m in report.metrics.items()},
                "fixed": {
                    name: asdict(curve[0])
                    for name, curve in report.points.items()
                    if len(curve) == 1
                },
                "calibrated": asdict(report.calibrated) if report.calibrated else None,
            }
            for report in reports
        },
    }
