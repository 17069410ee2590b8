"""Answering: one tier answers, or escalates to the next tier when it is unsure.

Two ways to answer. Through the service's ``submit_answer`` tool (policy
``answer_mode: tool``, the default): the model reports an answer and its confidence, and
the result's content is that answer as one text block. Naturally (``answer_mode:
natural``, and always for a request with tools, tool choice or thinking): every tier
gets the request as sent, only the model changes, and the result carries the model's own
content blocks and stop reason; a tool call the model made is final at its tier (the
caller runs it and sends the tool result as the next request).

The confidence that decides combines the model's self-report (none in a natural answer)
with heuristics on the response (:mod:`streamrouter.routing.confidence`). The top tier
always answers. When every model of the tier's fallback chain fails, the request ends in
an error result.

A reply with no answer (cut at ``max_tokens`` before the tool input held one, or an empty
one) at the last tier the request may reach ends in an error result of type
``incomplete_answer`` naming the stop reason, never in ``status: ok`` with an empty
answer. A lower tier's draft is not returned instead: it escalated because it was below
its tier's threshold, so the service had already judged it not good enough to be final.
Every attempt and its cost stay in the result.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from streamrouter.config import Policy
from streamrouter.events import Escalation, LLMRequest, LLMResult, WorkItem
from streamrouter.llm.client import ModelReply
from streamrouter.llm.fallback import ChainExhaustedError, call_with_fallback
from streamrouter.pipeline.context import PipelineContext
from streamrouter.prompts import answer_call, natural_call
from streamrouter.results import (
    attempt_for_reply,
    attempts_for_failures,
    error_result,
    ok_result,
)
from streamrouter.routing.answer import parse_answer, parse_natural
from streamrouter.routing.budget import allowed_tiers
from streamrouter.routing.confidence import (
    ConfidenceWeights,
    ResponseSignals,
    combine_confidence,
)
from streamrouter.routing.escalation import escalate_if_unsure

__all__ = ["INCOMPLETE_ANSWER", "answer", "incomplete_answer_message", "judge_reply"]

INCOMPLETE_ANSWER: Final = "incomplete_answer"
"""Error type of a request whose last allowed tier replied without an answer."""


async def answer(
    work: WorkItem, ctx: PipelineContext, clock: Callable[[], datetime]
) -> WorkItem | LLMResult:
    """Return the work item for the next tier (escalation) or the final result, completed
    at ``clock()`` once the model has answered."""
    assert work.tier is not None, "answer() needs a routed work item"
    tier = ctx.policy.tier(work.tier)
    natural = answers_naturally(work.request, ctx.policy)
    if natural:
        call = natural_call(work.request)
    else:
        call = answer_call(work.request, work.escalation, tier.structured_output)
    weights, max_tokens = ctx.policy.weights, work.request.max_tokens
    try:
        outcome = await call_with_fallback(
            ctx.gateway,
            ctx.cooldowns,
            tier.chain,
            call,
            assess=lambda reply: judge_reply(reply, max_tokens, weights, natural=natural),
        )
    except ChainExhaustedError as exc:
        failed = work.model_copy(
            update={"attempts": [*work.attempts, *attempts_for_failures(tier.name, exc.failures)]}
        )
        return error_result(failed, error_type=exc.error_type, message=str(exc), now=clock())

    reply = outcome.reply
    parsed = parse_natural(reply.content) if natural else parse_answer(reply.content)
    confidence = outcome.confidence
    assert confidence is not None, "assess always judges an answer"
    allowed = allowed_tiers(ctx.policy.tier_names, work.max_tier)
    next_tier = escalate_if_unsure(tier.name, confidence, ctx.policy.thresholds, allowed)
    if reply.stop_reason == "tool_use" and natural:
        next_tier = None  # the caller's tool call: theirs to run, not ours to second-guess
    attempts = [
        *work.attempts,
        *attempts_for_failures(tier.name, outcome.failures),
        attempt_for_reply(tier.name, reply, "escalated" if next_tier else "answered", confidence),
    ]
    if next_tier is not None:
        escalation = Escalation(
            from_tier=tier.name,
            answer=parsed.answer,
            reasoning=parsed.reasoning,
            confidence=confidence,
        )
        return work.model_copy(
            update={"tier": next_tier, "escalation": escalation, "attempts": attempts}
        )
    done = work.model_copy(update={"attempts": attempts})
    if not parsed.answer and not (natural and parsed.tool_calls):
        message = incomplete_answer_message(tier.name, reply, max_tokens, work.escalation)
        return error_result(done, error_type=INCOMPLETE_ANSWER, message=message, now=clock())
    return ok_result(
        done,
        tier=tier.name,
        model=reply.model,
        answer=parsed.answer,
        confidence=confidence,
        fallback_used=outcome.fallback_used,
        now=clock(),
        **result_content(reply, parsed.answer, natural=natural),
    )


def answers_naturally(request: LLMRequest, policy: Policy) -> bool:
    """Whether the request is answered as sent: by policy, or because the service's
    forced tool cannot carry it (the caller's tools, tool choice or thinking)."""
    if policy.answer_mode == "natural" or request.tools:
        return True
    return request.tool_choice is not None or request.thinking is not None


def result_content(reply: ModelReply, answer: str, *, natural: bool) -> dict[str, Any]:
    """The result's ``content``, ``stop_reason`` and ``stop_sequence``: the model's own
    for a natural answer; for one through the service's tool, the answer as one text
    block, ended as a turn is (or cut at ``max_tokens``)."""
    if natural:
        return {
            "content": reply.content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": reply.stop_sequence,
        }
    stop = "max_tokens" if reply.stop_reason == "max_tokens" else "end_turn"
    return {"content": [{"type": "text", "text": answer}], "stop_reason": stop}


def incomplete_answer_message(
    tier: str, reply: ModelReply, max_tokens: int, draft: Escalation | None
) -> str:
    """Why a final reply carried no answer, for the ``incomplete_answer`` error."""
    stop = reply.stop_reason or "none"
    message = (
        f"{tier} ({reply.model}) replied without an answer: stop_reason {stop}, "
        f"{reply.usage.output_tokens} output tokens of max_tokens {max_tokens}"
    )
    if stop == "max_tokens" or reply.usage.output_tokens >= max_tokens > 0:
        message += "; the reply was cut off, a larger max_tokens may let it finish"
    if draft is not None and draft.answer:
        message += (
            f"; the {draft.from_tier} draft (confidence {draft.confidence:.2f}) was below "
            "its tier's threshold and is not returned"
        )
    return message


def judge_reply(
    reply: ModelReply, max_tokens: int, weights: ConfidenceWeights, *, natural: bool = False
) -> float:
    """The confidence that decides escalation: self-report combined with heuristics (a
    natural answer has no self-report: heuristics only; a tool call has no text to judge
    and is final, at the natural prior)."""
    if natural and reply.stop_reason == "tool_use":
        return weights.natural_prior
    signals = ResponseSignals.from_parsed(
        parse_natural(reply.content) if natural else parse_answer(reply.content),
        stop_reason=reply.stop_reason,
        output_tokens=reply.usage.output_tokens,
        max_tokens=max_tokens,
        forced_tool=not natural,
    )
    return combine_confidence(signals, weights)
