"""Orchestrator-workers: plan on the top tier, fan subtasks out, synthesize on the top tier.

``plan`` asks the planner for subtasks and returns the parent with its (bounded) plan;
``subtask_items`` turns the plan into work items for the tier topics (keyed by the
parent's id, so the fan-in and every subtask share its partition; each subtask carries
the parent's system prompt and the images and documents it was sent); ``synthesize``
writes the final answer from the subtask answers. Cost and tokens of every call, the
subtasks' included, roll up into the parent's attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from streamrouter.blocks import DocumentBlock, ImageBlock, TextBlock
from streamrouter.events import FAILED_OUTCOMES, LLMRequest, LLMResult, Message, Route, WorkItem
from streamrouter.llm.fallback import ChainExhaustedError, call_with_fallback
from streamrouter.pipeline.context import PipelineContext
from streamrouter.prompts import plan_call, synthesis_call
from streamrouter.results import attempt_for_reply, attempts_for_failures, error_result, ok_result
from streamrouter.routing.answer import parse_answer, structured_payload
from streamrouter.routing.budget import cap_tier
from streamrouter.routing.plan import PlannedSubtask, PlanOutputError, bound_plan, parse_plan

__all__ = ["plan", "subtask_items", "synthesize"]


async def plan(
    work: WorkItem, ctx: PipelineContext, clock: Callable[[], datetime]
) -> WorkItem | LLMResult:
    """The parent with its plan and the planner's attempts, or an error result."""
    policy = ctx.policy
    tier = policy.tier(cap_tier(policy.top.name, work.max_tier, policy.tier_names))
    limit = policy.orchestrator.max_subtasks
    call = plan_call(work.request, list(policy.tier_names), limit, tier.structured_output)
    try:
        outcome = await call_with_fallback(ctx.gateway, ctx.cooldowns, tier.chain, call)
    except ChainExhaustedError as exc:
        failed = _with_attempts(work, attempts_for_failures(tier.name, exc.failures))
        return error_result(failed, error_type=exc.error_type, message=str(exc), now=clock())
    attempts = [
        *attempts_for_failures(tier.name, outcome.failures),
        attempt_for_reply(tier.name, outcome.reply, "planned"),
    ]
    try:
        planned = parse_plan(structured_payload(outcome.reply.content))
    except PlanOutputError as exc:
        planned, note = [], f"unusable plan ({exc})"
    else:
        note = ""
    if not planned:
        # Nothing to fan out: the whole request becomes the one subtask.
        planned = [PlannedSubtask(work.request.last_user_text, tier.name)]
        note = "; ".join(filter(None, [note, "planner returned no subtasks"]))
    subtasks, bound_note = bound_plan(planned, policy.tier_names, limit, work.max_tier)
    return _with_attempts(work, attempts).model_copy(
        update={
            "tier": tier.name,
            "plan": subtasks,
            "plan_note": "; ".join(filter(None, [note, bound_note])),
        }
    )


def subtask_items(parent: WorkItem, now: datetime) -> list[WorkItem]:
    request = parent.request
    parent_id = request.request_id
    return [
        WorkItem(
            request=LLMRequest(
                request_id=f"{parent_id}/{subtask.subtask_id}",
                tenant=request.tenant,
                system=request.system,
                messages=[subtask_message(request, subtask.prompt)],
                max_tokens=request.max_tokens,
                metadata=request.metadata,
            ),
            route=Route(
                strategy="orchestrator",
                reason=f"subtask {subtask.subtask_id} of {parent_id}",
            ),
            tier=subtask.tier,
            received_at=now,
            max_tier=parent.max_tier,
            parent_id=parent_id,
            subtask_id=subtask.subtask_id,
        )
        for subtask in parent.plan
    ]


def subtask_message(request: LLMRequest, prompt: str) -> Message:
    """A subtask's question, with the images and documents of the request's last user
    message: what the subtask asks about may be in them."""
    last = request.last_user_message
    blocks = [] if last is None or isinstance(last.content, str) else last.content
    media = [b for b in blocks if isinstance(b, ImageBlock | DocumentBlock)]
    if not media:
        return Message(role="user", content=prompt)
    return Message(role="user", content=[*media, TextBlock(type="text", text=prompt)])


async def synthesize(
    parent: WorkItem, ctx: PipelineContext, clock: Callable[[], datetime]
) -> LLMResult:
    policy = ctx.policy
    tier = policy.tier(cap_tier(policy.top.name, parent.max_tier, policy.tier_names))
    call = synthesis_call(parent, tier.structured_output)
    route = _orchestrator_route(parent)
    try:
        outcome = await call_with_fallback(ctx.gateway, ctx.cooldowns, tier.chain, call)
    except ChainExhaustedError as exc:
        failed = _with_attempts(parent, attempts_for_failures(tier.name, exc.failures))
        failed = failed.model_copy(update={"route": route})
        return error_result(failed, error_type=exc.error_type, message=str(exc), now=clock())
    parsed = parse_answer(outcome.reply.content)
    confidence = parsed.self_confidence if parsed.self_confidence is not None else 0.5
    done = _with_attempts(
        parent,
        [
            *attempts_for_failures(tier.name, outcome.failures),
            attempt_for_reply(tier.name, outcome.reply, "synthesized", confidence),
        ],
    ).model_copy(update={"route": route})
    return ok_result(
        done,
        tier=tier.name,
        model=outcome.reply.model,
        answer=parsed.answer,
        confidence=confidence,
        # Any call of the plan (planner, subtasks) that had to fall back lowers quality.
        fallback_used=outcome.fallback_used
        or any(a.outcome in FAILED_OUTCOMES for a in parent.attempts),
        now=clock(),
    )


def _orchestrator_route(parent: WorkItem) -> Route:
    reason = f"planned {len(parent.plan)} subtasks"
    if parent.plan_note:
        reason = f"{reason}; {parent.plan_note}"
    return Route(strategy="orchestrator", reason=reason)


def _with_attempts(work: WorkItem, attempts: list[Any]) -> WorkItem:
    return work.model_copy(update={"attempts": [*work.attempts, *attempts]})
