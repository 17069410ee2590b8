"""Cost/quality curves as PNG files (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from streamrouter.eval.metrics import OperatingPoint

__all__ = ["plot_curves"]

_STYLE = {
    "all-weak": {"marker": "s", "color": "grey"},
    "all-strong": {"marker": "s", "color": "red"},
    "random": {"linestyle": "--", "color": "black"},
    "cascade": {"marker": ".", "color": "tab:blue"},
    "learned": {"marker": ".", "color": "tab:green"},
    "classifier": {"marker": "D", "color": "tab:purple"},
}


def plot_curves(
    points: Mapping[str, Sequence[OperatingPoint]],
    path: Path,
    *,
    title: str,
    requests: int,
) -> None:
    """Two panels: quality against strong-call share (RouteLLM's view) and against cost
    per 1000 requests. Single points (all-weak, all-strong) are markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_share, by_cost) = plt.subplots(1, 2, figsize=(12, 5))
    for name, curve in points.items():
        ordered = sorted(curve, key=lambda p: (p.strong_share, p.quality))
        default = {"marker": "*", "color": "tab:orange"} if "@" in name else {"marker": "."}
        style = dict(_STYLE.get(name, default))
        if len(ordered) > 1:
            style.setdefault("linestyle", "-")
        else:
            style["linestyle"] = "none"
        shares = [100 * p.strong_share for p in ordered]
        quality = [100 * p.quality for p in ordered]
        cost = [1000 * p.cost_usd / requests for p in ordered]
        size = 12 if "@" in name else 5  # a calibrated operating point stands out
        by_share.plot(shares, quality, label=name, markersize=size, **style)
        by_cost.plot(cost, quality, label=name, markersize=size, **style)
    by_share.set_xlabel("Strong model calls (%)")
    by_cost.set_xlabel("Cost per 1000 requests (USD)")
    for axes in (by_share, by_cost):
        axes.set_ylabel("Quality (% correct)")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
