"""Prompt templates: one per task, never one per tier (swap the model, keep the prompt).

The answer prompt carries the user's own system prompt and conversation; on escalation
the previous tier's answer and reasoning ride along so the next tier can check them
rather than start cold. The classifier prompt asks only how hard the request is.
"""

from __future__ import annotations

from typing import Any

from streamrouter.events import Escalation, LLMRequest
from streamrouter.llm.client import ModelCall
from streamrouter.routing.answer import answer_tool
from streamrouter.routing.classifier import CLASSIFIER_SYSTEM, classify_tool

__all__ = ["answer_call", "classify_call"]

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
