"""Classification: the classifier tier says how hard a request is; that picks the tier."""

from __future__ import annotations

from typing import Any

from streamrouter.events import Attempt, WorkItem
from streamrouter.llm.client import ModelReply
from streamrouter.llm.fallback import ChainExhaustedError, call_with_fallback
from streamrouter.pipeline.context import PipelineContext
from streamrouter.prompts import classify_call
from streamrouter.results import attempt_for_reply, attempts_for_failures
from streamrouter.routing.classifier import ClassifierOutputError, parse_classification
from streamrouter.routing.decide import (
    RouteDecision,
    classifier_note,
    route_classified,
    route_unclassified,
)

__all__ = ["classify"]


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
        return _routed(work, decision, failed)
    attempts = attempts_for_failures(tier.name, outcome.failures)
    attempts.append(attempt_for_reply(tier.name, outcome.reply, "classified", outcome.confidence))
    try:
        classification = parse_classification(_structured_payload(outcome.reply.content))
    except ClassifierOutputError as exc:
        decision = route_unclassified(f"unusable output: {exc}", policy.tier_names, note)
    else:
        decision = route_classified(classification, policy.tier_names, note)
    return _routed(work, decision, attempts)


def _classification_confidence(reply: ModelReply) -> float | None:
    try:
        return parse_classification(_structured_payload(reply.content)).confidence
    except ClassifierOutputError:
        return None


def _routed(work: WorkItem, decision: RouteDecision, attempts: list[Attempt]) -> WorkItem:
    return work.model_copy(
        update={
            "tier": decision.tier,
            "route": decision.route,
            "attempts": [*work.attempts, *attempts],
        }
    )


def _structured_payload(content: list[dict[str, Any]]) -> dict[str, Any] | str:
    for block in content:
        if block.get("type") == "tool_use":
            return block.get("input") or {}
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")
