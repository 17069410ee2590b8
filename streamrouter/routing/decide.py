"""Which tier answers a request first, and why.

``choose_route`` decides without a model call when it can (a pinned tier, a known task
type); ``None`` means the classifier must be asked, and ``route_classified`` turns its
answer into a route. When the classifier cannot be reached, ``route_unclassified``
sends the request to the middle tier so that nothing waits on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamrouter.events import LLMRequest, Route
from streamrouter.routing.classifier import Classification, tier_for_complexity
from streamrouter.routing.task_map import tier_for_task

__all__ = [
    "RouteDecision",
    "choose_route",
    "classifier_note",
    "route_classified",
    "route_learned",
    "route_unclassified",
]


@dataclass(frozen=True)
class RouteDecision:
    tier: str
    route: Route


def choose_route(request: LLMRequest, task_map: Mapping[str, str]) -> RouteDecision | None:
    if request.tier is not None:
        return RouteDecision(
            request.tier, Route(strategy="pinned", reason=f"tier {request.tier} pinned")
        )
    tier = tier_for_task(request.task_type, task_map)
    if tier is not None:
        reason = f"task_type {request.task_type} maps to {tier}"
        return RouteDecision(tier, Route(strategy="task_map", reason=reason))
    return None


def classifier_note(request: LLMRequest) -> str:
    """Why the classifier is asked; an unknown task type is named so a typo is visible."""
    if request.task_type and request.task_type.strip():
        return f"unknown task_type {request.task_type!r}; "
    return ""


def route_classified(
    classification: Classification, tiers: Sequence[str], note: str = ""
) -> RouteDecision:
    tier = tier_for_complexity(classification.complexity, tiers)
    reason = (
        f"{note}classified {classification.complexity} "
        f"({classification.confidence:.2f}): {classification.reason}"
    )
    return RouteDecision(
        tier,
        Route(strategy="classifier", complexity=classification.complexity, reason=reason),
    )


def route_learned(score: float, cutoff: float, tiers: Sequence[str]) -> RouteDecision:
    """The learned router's verdict: the cheapest tier, or the top one when its score
    (the probability that the cheapest tier is not enough) reaches the cut-off."""
    strong = score >= cutoff
    tier = tiers[-1] if strong else tiers[0]
    relation = ">=" if strong else "<"
    reason = f"learned router: P(cheapest tier not enough) {score:.2f} {relation} {cutoff:.2f}"
    return RouteDecision(tier, Route(strategy="learned", reason=reason))


def route_unclassified(error: str, tiers: Sequence[str], note: str = "") -> RouteDecision:
    tier = tiers[len(tiers) // 2]
    reason = f"{note}classifier unavailable ({error}); sent to the middle tier"
    return RouteDecision(tier, Route(strategy="classifier", reason=reason))
