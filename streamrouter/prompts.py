"""Prompt templates: one per task, never one per tier (swap the model, keep the prompt).

The answer prompt carries the user's own system prompt and conversation; on escalation
the previous tier's answer and reasoning ride along so the next tier can check them
rather than start cold. The classifier prompt asks only how hard the request is.
"""

from __future__ import annotations

from typing import Any

from streamrouter.events import Escalation, LLMRequest, WorkItem
from streamrouter.llm.client import ModelCall
from streamrouter.routing.answer import answer_tool
from streamrouter.routing.classifier import CLASSIFIER_SYSTEM, classify_tool
from streamrouter.routing.plan import plan_tool

__all__ = ["answer_call", "classify_call", "plan_call", "synthesis_call"]

ANSWER_INSTRUCTIONS = (
    "Answer the user's request, then report it with the submit_answer tool: the final "
    "answer, a short reasoning, and your confidence (0 to 1) that the answer is correct "
    "and complete. Be calibrated: a low confidence sends the request to a stronger model."
)

CLASSIFY_EXCERPT_CHARS = 4000


def answer_call(
    request: LLMRequest, escalation: Escalation | None, structured_output: str = "tool"
) -> ModelCall:
    system = "\n\n".join(part for part in (request.system, ANSWER_INSTRUCTIONS) if part)
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if escalation is not None:
        last = messages[-1]
        last["content"] = f"{last['content']}\n\n{_escalation_context(escalation)}"
    return ModelCall(
        messages=messages,
        max_tokens=request.max_tokens,
        tool=answer_tool(),
        system=system,
        structured_output=structured_output,  # type: ignore[arg-type]
    )


def classify_call(request: LLMRequest, structured_output: str = "tool") -> ModelCall:
    text = request.last_user_text
    if len(text) > CLASSIFY_EXCERPT_CHARS:
        text = text[:CLASSIFY_EXCERPT_CHARS] + " [...]"
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    return ModelCall(
        messages=messages,
        max_tokens=256,
        tool=classify_tool(),
        system=CLASSIFIER_SYSTEM,
        structured_output=structured_output,  # type: ignore[arg-type]
    )


def _escalation_context(escalation: Escalation) -> str:
    return (
        f"---\nA smaller model ({escalation.from_tier}) answered this with confidence "
        f"{escalation.confidence:.2f}, which was not enough:\n{escalation.answer}\n"
        f"Its reasoning: {escalation.reasoning or '(none given)'}\n"
        "Check it and give your own final answer."
    )


PLANNER_INSTRUCTIONS = (
    "Split the user's request into independent subtasks that smaller models can answer "
    "in parallel, and report them with the plan_subtasks tool. Each subtask must be "
    "self-contained. Give each the cheapest tier that can do it well ({tiers}), and use "
    "at most {max_subtasks} subtasks."
)

SYNTHESIS_INSTRUCTIONS = (
    "Subtasks of the user's request were answered separately; their answers follow. "
    "Write the final answer to the whole request from them. Where a subtask is missing "
    "or failed, say what could not be covered."
)


def plan_call(
    request: LLMRequest, tiers: list[str], max_subtasks: int, structured_output: str = "tool"
) -> ModelCall:
    instructions = PLANNER_INSTRUCTIONS.format(tiers=", ".join(tiers), max_subtasks=max_subtasks)
    system = "\n\n".join(part for part in (request.system, instructions) if part)
    return ModelCall(
        messages=[{"role": m.role, "content": m.content} for m in request.messages],
        max_tokens=request.max_tokens,
        tool=plan_tool(),
        system=system,
        structured_output=structured_output,  # type: ignore[arg-type]
    )


def synthesis_call(parent: WorkItem, structured_output: str = "tool") -> ModelCall:
    call = answer_call(parent.request, None, structured_output)
    answers = "\n\n".join(
        f"[{r.subtask_id}] {r.prompt}\n"
        + (f"Answer ({r.tier}): {r.answer}" if r.status == "ok" else f"({r.status})")
        for r in parent.subtask_results
    )
    last = call.messages[-1]
    last["content"] = f"{last['content']}\n\n---\n{SYNTHESIS_INSTRUCTIONS}\n\n{answers}"
    return call
