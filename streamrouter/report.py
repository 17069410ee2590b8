"""``streamrouter report``: what each route cost, how often it escalated, and how its
answers were rated.

Pure: it takes results, feedback and a price, and returns figures. Per route strategy
and per final tier: requests, share, total and mean cost, p50/p95 latency, escalation,
fallback and error rates, the requests with a verdict on the feedback topic and the
share of those rated good (a request's latest verdict counts); and the saving against
sending everything to the top tier, priced from the same token counts (each request's
answering call, at top-tier prices).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from streamrouter.events import Attempt, Feedback, LLMResult
from streamrouter.llm.pricing import (
    ModelPrice,
    PriceTable,
    TokenUsage,
    UnknownModelPriceError,
    price_usage,
)

__all__ = [
    "CostReport",
    "GroupFigures",
    "cache_saving",
    "cost_on_top_tier",
    "format_report",
    "latest_verdicts",
    "percentile",
    "summarize",
]


@dataclass(frozen=True)
class GroupFigures:
    name: str
    requests: int
    share: float
    total_cost_usd: float
    mean_cost_usd: float
    p50_latency_ms: float
    p95_latency_ms: float
    escalation_rate: float
    fallback_rate: float
    error_rate: float
    rated: int  # requests with a verdict on the feedback topic
    good_share: float | None  # of those, rated good (None: none rated)


@dataclass(frozen=True)
class CostReport:
    requests: int
    total_cost_usd: float
    top_tier_model: str
    top_tier_cost_usd: float
    saving_usd: float
    saving_share: float
    cache_read_tokens: int
    cache_write_tokens: int
    # What prompt caching saved: reads at the read price instead of the input price,
    # less the premium paid for writes.
    cache_saving_usd: float
    by_route: list[GroupFigures]
    by_tier: list[GroupFigures]
    since: datetime | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        return data


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def cost_on_top_tier(result: LLMResult, top: ModelPrice) -> float:
    """What the answering call would have cost on the top tier, for the same tokens."""
    answering = [a for a in result.attempts if a.outcome == "answered"]
    if not answering:
        return 0.0
    last = answering[-1]
    usage = TokenUsage(
        input_tokens=last.input_tokens,
        output_tokens=last.output_tokens,
        cache_read_input_tokens=last.cache_read_input_tokens,
        cache_creation_input_tokens=last.cache_creation_input_tokens,
    )
    return price_usage(top, usage)


def cache_saving(attempt: Attempt, prices: PriceTable) -> float:
    if not (attempt.cache_read_input_tokens or attempt.cache_creation_input_tokens):
        return 0.0
    try:
        price = prices.price_for(attempt.model)
    except UnknownModelPriceError:
        return 0.0
    read = attempt.cache_read_input_tokens * (price.input - price.cache_read)
    write = attempt.cache_creation_input_tokens * (price.cache_write_5m - price.input)
    return (read - write) / 1e6


def summarize(
    results: Iterable[LLMResult],
    prices: PriceTable,
    top_model: str,
    since: datetime | None = None,
    feedback: Iterable[Feedback] = (),
) -> CostReport:
    chosen = [r for r in results if since is None or r.completed_at >= since]
    verdicts = latest_verdicts(feedback)
    total = sum(r.total_cost_usd for r in chosen)
    top = prices.price_for(top_model)
    top_cost = sum(cost_on_top_tier(r, top) for r in chosen)
    attempts = [a for r in chosen for a in r.attempts]
    return CostReport(
        requests=len(chosen),
        total_cost_usd=total,
        top_tier_model=top.model,
        top_tier_cost_usd=top_cost,
        saving_usd=top_cost - total,
        saving_share=(top_cost - total) / top_cost if top_cost else 0.0,
        cache_read_tokens=sum(a.cache_read_input_tokens for a in attempts),
        cache_write_tokens=sum(a.cache_creation_input_tokens for a in attempts),
        cache_saving_usd=sum(cache_saving(a, prices) for a in attempts),
        by_route=_grouped(chosen, verdicts, lambda r: r.route.strategy if r.route else "none"),
        by_tier=_grouped(chosen, verdicts, lambda r: r.tier or "none"),
        since=since,
    )


def latest_verdicts(feedback: Iterable[Feedback]) -> dict[str, bool]:
    """Each rated request's latest verdict: good or not."""
    latest: dict[str, Feedback] = {}
    for verdict in feedback:
        seen = latest.get(verdict.request_id)
        if seen is None or verdict.at >= seen.at:
            latest[verdict.request_id] = verdict
    return {rid: verdict.good for rid, verdict in latest.items()}


def _grouped(
    results: list[LLMResult], verdicts: dict[str, bool], key: Callable[[LLMResult], str]
) -> list[GroupFigures]:
    groups: dict[str, list[LLMResult]] = {}
    for result in results:
        groups.setdefault(key(result), []).append(result)
    return [_figures(name, group, len(results), verdicts) for name, group in sorted(groups.items())]


def _figures(
    name: str, group: list[LLMResult], everything: int, verdicts: dict[str, bool]
) -> GroupFigures:
    count = len(group)
    rated = [verdicts[r.request_id] for r in group if r.request_id in verdicts]
    cost = sum(r.total_cost_usd for r in group)
    latencies = [r.total_latency_ms for r in group]
    return GroupFigures(
        name=name,
        requests=count,
        share=count / everything,
        total_cost_usd=cost,
        mean_cost_usd=cost / count,
        p50_latency_ms=percentile(latencies, 50),
        p95_latency_ms=percentile(latencies, 95),
        escalation_rate=sum(r.escalated for r in group) / count,
        fallback_rate=sum(r.fallback_used for r in group) / count,
        error_rate=sum(r.status == "error" for r in group) / count,
        rated=len(rated),
        good_share=sum(rated) / len(rated) if rated else None,
    )


def format_report(report: CostReport) -> str:
    lines = [
        f"{report.requests} requests"
        + (f" since {report.since.isoformat()}" if report.since else ""),
        f"cost ${report.total_cost_usd:.6f}; all on {report.top_tier_model}: "
        f"${report.top_tier_cost_usd:.6f}; saving ${report.saving_usd:.6f} "
        f"({report.saving_share:.1%})",
        f"prompt cache: {report.cache_read_tokens} tokens read, {report.cache_write_tokens} "
        f"written; saved ${report.cache_saving_usd:.6f}",
    ]
    for title, groups in (("route", report.by_route), ("final tier", report.by_tier)):
        lines += ["", _table(title, groups)]
    return "\n".join(lines)


def _table(title: str, groups: list[GroupFigures]) -> str:
    header = (
        title,
        "requests",
        "share",
        "cost $",
        "mean $",
        "p50 ms",
        "p95 ms",
        "esc",
        "fb",
        "err",
        "rated",
        "good",
    )
    rows = [header] + [
        (
            g.name,
            str(g.requests),
            f"{g.share:.1%}",
            f"{g.total_cost_usd:.6f}",
            f"{g.mean_cost_usd:.6f}",
            f"{g.p50_latency_ms:.0f}",
            f"{g.p95_latency_ms:.0f}",
            f"{g.escalation_rate:.1%}",
            f"{g.fallback_rate:.1%}",
            f"{g.error_rate:.1%}",
            str(g.rated),
            "-" if g.good_share is None else f"{g.good_share:.1%}",
        )
        for g in groups
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
