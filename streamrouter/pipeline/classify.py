"""Classification: the classifier tier says how hard a request is; that picks the tier.

While the router bypass is on, ``bypass`` sends the request straight to the tier that
recent traffic mostly got, with no classifier call. The bypass is decided here, when the
classify stage takes the request, not at admission: in a backlog every request is
admitted before any verdict is back, so a decision at admission saw an empty window.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamrouter.events import Attempt, Route, WorkItem
from streamrouter.llm.client import ModelReply
from streamrouter.llm.fallback import ChainExhaustedError, call_with_fallback
from streamrouter.pipeline.context import PipelineContext
from streamrouter.prompts import classify_call
from streamrouter.results import attempt_for_reply, attempts_for_failures
from streamrouter.routing.answer import structured_payload
from streamrouter.routing.budget import cap_tier
from streamrouter.routing.classifier import ClassifierOutputError, parse_classification
from streamrouter.routing.decide import (
    RouteDecision,
    classifier_note,
    route_classified,
    route_unclassified,
)

__all__ = ["bypass", "classify"]


async def classify(work: WorkItem, ctx: PipelineContext) -> WorkItem:
    """Return the work item routed to a tier, with the classifier's attempts added."""
    policy = ctx.policy
    tier = policy.classifier
    note = classifier_note(work.request)
    call = classify_call(work.request, tier.structured_output)
    try:
        outcome = await call_with_fallback(
            ctx.gateway, ctx.cooldowns, tier.chain, call, assess=_classification_confidence
        )
    except ChainExhaustedError as exc:
        failed = attempts_for_failures(tier.name, exc.failures)
        decision = route_unclassified(exc.error_type, policy.tier_names, note)
        return _routed(work, decision, failed, policy.tier_names)
    attempts = attempts_for_failures(tier.name, outcome.failures)
    attempts.append(attempt_for_reply(tier.name, outcome.reply, "classified", outcome.confidence))
    try:
        classification = parse_classification(structured_payload(outcome.reply.content))
    except ClassifierOutputError as exc:
        decision = route_unclassified(f"unusable output: {exc}", policy.tier_names, note)
    else:
        decision = route_classified(classification, policy.tier_names, note)
    return _routed(work, decision, attempts, policy.tier_names)


def bypass(work: WorkItem, tier: str, tiers: Sequence[str]) -> WorkItem:
    """Route ``work`` to ``tier`` without asking the classifier."""
    note = classifier_note(work.request)
    reason = f"{note}classifier bypassed: recent traffic is mostly {tier}"
    decision = RouteDecision(tier, Route(strategy="bypass", reason=reason))
    return _routed(work, decision, [], tiers)


def _classification_confidence(reply: ModelReply) -> float | None:
    try:
        return parse_classification(structured_payload(reply.content)).confidence
    except ClassifierOutputError:
        return None


def _routed(
    work: WorkItem, decision: RouteDecision, attempts: list[Attempt], tiers: Sequence[str]
) -> WorkItem:
    tier = cap_tier(decision.tier, work.max_tier, tiers)
    route = decision.route
    if tier != decision.tier:
        route = route.model_copy(
            update={"reason": f"{route.reason}; capped at {tier} by the tenant's budget"}
        )
    return work.model_copy(
        update={"tier": tier, "route": route, "attempts": [*work.attempts, *attempts]}
    )
