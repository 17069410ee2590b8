"""Routing policies evaluated on request records, deciding exactly as the pipeline does.

* ``all-weak`` / ``all-strong``: one tier answers everything.
* ``cascade``: the weak tier answers and escalates below a threshold; swept over every
  threshold that changes a decision. The decision is the pipeline's own
  ``escalate_if_unsure`` on the confidence the pipeline computed.
* ``random``: a random share of requests goes to the strong model (RouteLLM's
  baseline), averaged over seeds.
* router curves (``learned``): a score per request, strong at or above a cut-off.

A cascade pays for the weak call on every request and the strong call on escalation; a
router pays for the one model it picks.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence

from streamrouter.eval.metrics import OperatingPoint
from streamrouter.eval.records import RequestRecord
from streamrouter.routing.answer import ANSWER_TOOL_NAME, parse_answer
from streamrouter.routing.confidence import ConfidenceWeights, ResponseSignals, combine_confidence
from streamrouter.routing.escalation import escalate_if_unsure

__all__ = [
    "STRONG_TIER",
    "TIERS",
    "WEAK_TIER",
    "all_strong_point",
    "all_weak_point",
    "cascade_point",
    "cascade_points",
    "offline_confidence",
    "random_points",
    "router_points",
]

WEAK_TIER = "haiku"
STRONG_TIER = "opus"
TIERS = (WEAK_TIER, STRONG_TIER)


def offline_confidence(
    answer: str, *, max_tokens: int, weights: ConfidenceWeights | None = None
) -> float:
    """The combined confidence the pipeline computes for a replayed recorded answer.

    Builds the simulator's replay reply (:func:`streamrouter.sim.replay.recorded_message`)
    and reads it with the pipeline's own parser and ``combine_confidence``.
    """
    from streamrouter.sim.replay import recorded_message
    from streamrouter.sim.reply import SimRequest

    request = SimRequest(
        model="",
        max_tokens=max_tokens,
        last_user="",
        kind="answer",
        mode="tool",
        input_tokens=0,
        tool_name=ANSWER_TOOL_NAME,
    )
    message = recorded_message(request, answer, message_id="", tool_use_id="")
    # The SDK's content blocks, as the pipeline sees them (a JSON round trip).
    content = json.loads(json.dumps(message["content"]))
    signals = ResponseSignals.from_parsed(
        parse_answer(content),
        stop_reason=message["stop_reason"],
        output_tokens=message["usage"]["output_tokens"],
        max_tokens=max_tokens,
    )
    return combine_confidence(signals, weights or ConfidenceWeights())


def _point(
    policy: str,
    records: Sequence[RequestRecord],
    strong: Sequence[bool],
    cost: Callable[[RequestRecord, bool], float],
    latency: Callable[[RequestRecord, bool], float],
    setting: float | None,
) -> OperatingPoint:
    n = len(records)
    if n == 0:
        raise ValueError("no records to evaluate")
    correct = sum(
        r.strong_correct if s else r.weak_correct for r, s in zip(records, strong, strict=True)
    )
    return OperatingPoint(
        policy=policy,
        strong_share=sum(strong) / n,
        quality=correct / n,
        cost_usd=sum(cost(r, s) for r, s in zip(records, strong, strict=True)),
        latency_ms=sum(latency(r, s) for r, s in zip(records, strong, strict=True)) / n,
        setting=setting,
    )


def _router_cost(record: RequestRecord, strong: bool) -> float:
    return record.direct_strong_cost_usd if strong else record.weak.cost_usd


def _router_latency(record: RequestRecord, strong: bool) -> float:
    return record.strong.latency_ms if strong else record.weak.latency_ms


def _cascade_cost(record: RequestRecord, escalated: bool) -> float:
    return record.weak.cost_usd + (record.strong.cost_usd if escalated else 0.0)


def _cascade_latency(record: RequestRecord, escalated: bool) -> float:
    return record.weak.latency_ms + (record.strong.latency_ms if escalated else 0.0)


def all_weak_point(records: Sequence[RequestRecord]) -> OperatingPoint:
    strong = [False] * len(records)
    return _point("all-weak", records, strong, _router_cost, _router_latency, None)


def all_strong_point(records: Sequence[RequestRecord]) -> OperatingPoint:
    strong = [True] * len(records)
    return _point("all-strong", records, strong, _router_cost, _router_latency, None)


def _confidence(record: RequestRecord) -> float:
    if record.weak.confidence is None:
        raise ValueError(f"{record.request_id}: the weak call has no confidence")
    return record.weak.confidence


def escalates(confidence: float, threshold: float) -> bool:
    """The pipeline's decision for the weak tier at ``threshold``."""
    return escalate_if_unsure(WEAK_TIER, confidence, {WEAK_TIER: threshold}, TIERS) is not None


def cascade_point(
    records: Sequence[RequestRecord], threshold: float, policy: str = "cascade"
) -> OperatingPoint:
    escalated = [escalates(_confidence(r), threshold) for r in records]
    return _point(policy, records, escalated, _cascade_cost, _cascade_latency, threshold)


def cascade_points(
    records: Sequence[RequestRecord], policy: str = "cascade"
) -> list[OperatingPoint]:
    """One point per threshold that changes a decision, from none escalated to all."""
    confidences = sorted({_confidence(r) for r in records})
    thresholds = sorted({0.0, 1.0, *(c for c in confidences if 0.0 < c <= 1.0)})
    points = [cascade_point(records, t, policy) for t in thresholds]
    if confidences and confidences[-1] >= 1.0:  # no threshold escalates a 1.0: all-escalated
        all_up = [True] * len(records)
        points.append(_point(policy, records, all_up, _cascade_cost, _cascade_latency, None))
    return points


def router_points(
    records: Sequence[RequestRecord], scores: Sequence[float], policy: str
) -> list[OperatingPoint]:
    """A score-based router (strong when ``score >= cut``), over every distinct cut."""
    cuts = [*sorted(set(scores)), float("inf")]
    return [
        _point(
            policy,
            records,
            [score >= cut for score in scores],
            _router_cost,
            _router_latency,
            cut if cut != float("inf") else None,
        )
        for cut in cuts
    ]


def random_points(
    records: Sequence[RequestRecord], seeds: int = 20, policy: str = "random"
) -> list[OperatingPoint]:
    """RouteLLM's random router: k of n requests to the strong model, for every k,
    averaged over ``seeds`` random orders (each seeded, so the curve is reproducible)."""
    n = len(records)
    if n == 0:
        raise ValueError("no records to evaluate")
    weak = all_weak_point(records)
    sums = [[0.0, 0.0, 0.0] for _ in range(n + 1)]  # quality, cost, latency (mean) sums
    for seed in range(seeds):
        order = list(range(n))
        random.Random(seed).shuffle(order)
        correct, cost, latency = weak.quality * n, weak.cost_usd, weak.latency_ms * n
        for k in range(n + 1):
            if k:  # the k-th request in this order moves to the strong model
                r = records[order[k - 1]]
                correct += r.strong_correct - r.weak_correct
                cost += _router_cost(r, True) - _router_cost(r, False)
                latency += _router_latency(r, True) - _router_latency(r, False)
            sums[k][0] += correct / n
            sums[k][1] += cost
            sums[k][2] += latency / n
    return [
        OperatingPoint(policy, k / n, q / seeds, c / seeds, lat / seeds)
        for k, (q, c, lat) in enumerate(sums)
    ]


def policy_points(
    records: Sequence[RequestRecord], routers: Mapping[str, Sequence[float]] | None = None
) -> dict[str, list[OperatingPoint]]:
    """Every policy's points on ``records``: fixed ones, random, the cascade (when the weak
    answers have a confidence), and routers."""
    points = {
        "all-weak": [all_weak_point(records)],
        "all-strong": [all_strong_point(records)],
        "random": random_points(records),
    }
    if all(r.weak.confidence is not None for r in records):  # recorded weak answers
        points["cascade"] = cascade_points(records)
    for name, scores in (routers or {}).items():
        points[name] = router_points(records, scores, name)
    return points
