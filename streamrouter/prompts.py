"""Prompt templates: one per task, never one per tier (swap the model, keep the prompt).

The answer, plan and synthesis calls carry the user's request as sent: the messages with
their content blocks unchanged, the system blocks (their ``cache_control`` kept) with the
service's instructions as one more text block, and the sampling parameters
(``LLMRequest.api_parameters``); only the model changes per tier. What the service adds
to the conversation (the previous tier's answer on escalation, the subtask answers for
the synthesis) goes in as an extra text block of the last user message. The classifier
prompt is its own short text-only call: it asks only how hard the request is.
"""

from __future__ import annotations

from typing import Any

from streamrouter.blocks import block_texts
from streamrouter.events import Escalation, LLMRequest, WorkItem
from streamrouter.llm.client import ModelCall
from streamrouter.routing.answer import answer_tool
from streamrouter.routing.classifier import CLASSIFIER_SYSTEM, classify_tool
from streamrouter.routing.plan import plan_tool

__all__ = ["answer_call", "classify_call", "natural_call", "plan_call", "synthesis_call"]

ANSWER_INSTRUCTIONS = (
    "Answer the user's request, then report it with the submit_answer tool: the final "
    "answer, a short reasoning, and your confidence (0 to 1) that the answer is correct "
    "and complete. Be calibrated: a low confidence sends the request to a stronger model."
)

CLASSIFY_EXCERPT_CHARS = 4000


def answer_call(
    request: LLMRequest, escalation: Escalation | None, structured_output: str = "tool"
) -> ModelCall:
    messages = _messages(request)
    if escalation is not None:
        _add_text(messages[-1], _escalation_context(escalation))
    return ModelCall(
        messages=messages,
        max_tokens=request.max_tokens,
        tool=answer_tool(),
        system=_system(request, ANSWER_INSTRUCTIONS),
        structured_output=structured_output,  # type: ignore[arg-type]
        parameters=request.api_parameters,
    )


def natural_call(request: LLMRequest) -> ModelCall:
    """The request as the user sent it (system, messages, tools, tool choice, thinking
    and sampling parameters): only the model changes from tier to tier. No draft of a
    lower tier is added: an escalated tier starts from the same prompt."""
    parameters = dict(request.api_parameters)
    if request.tools:
        parameters["tools"] = [tool.model_dump(exclude_none=True) for tool in request.tools]
    for name in ("tool_choice", "thinking"):
        if (value := getattr(request, name)) is not None:
            parameters[name] = value.model_dump(exclude_none=True)
    return ModelCall(
        messages=_messages(request),
        max_tokens=request.max_tokens,
        tool=None,
        system=request.system_blocks or None,
        parameters=parameters,
    )


def _messages(request: LLMRequest) -> list[dict[str, Any]]:
    """Fresh copies of the user's messages, in the API's form."""
    return [message.to_api() for message in request.messages]


def _system(request: LLMRequest, instructions: str) -> list[dict[str, Any]]:
    return [*request.system_blocks, {"type": "text", "text": instructions}]


# Starts each text block the service adds to the user's message: joined to the user's
# text with a newline (as the simulator reads a turn), the prompt is followed by a blank
# line and a ``---`` line, as when the context was appended to the string; the
# simulator's replay looks the prompt up before it (sim.replay.ESCALATION_SEPARATOR).
ADDED_TEXT_PREFIX = "\n---\n"


def _add_text(message: dict[str, Any], text: str) -> None:
    """Append ``text`` to ``message`` as one more text block, after a ``---`` line."""
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    message["content"] = [*blocks, {"type": "text", "text": ADDED_TEXT_PREFIX + text}]


def classify_call(request: LLMRequest, structured_output: str = "tool") -> ModelCall:
    text = _classifier_text(request)
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


NO_TEXT = "(no text: the request carries only images, documents or other content)"


def _classifier_text(request: LLMRequest) -> str:
    """The text of the last user message's blocks, tool results and plain-text documents
    included; the API refuses an empty message, so one with none says so."""
    last = request.last_user_message
    if last is None:
        return NO_TEXT
    if isinstance(last.content, str):
        text = last.content
    else:
        text = "\n".join(t for block in last.content for t in block_texts(block))
    return text if text.strip() else NO_TEXT


def _escalation_context(escalation: Escalation) -> str:
    return (
        f"A smaller model ({escalation.from_tier}) answered this with confidence "
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
    return ModelCall(
        messages=_messages(request),
        max_tokens=request.max_tokens,
        tool=plan_tool(),
        system=_system(request, instructions),
        structured_output=structured_output,  # type: ignore[arg-type]
        parameters=request.api_parameters,
    )


def synthesis_call(parent: WorkItem, structured_output: str = "tool") -> ModelCall:
    call = answer_call(parent.request, None, structured_output)
    answers = "\n\n".join(
        f"[{r.subtask_id}] {r.prompt}\n"
        + (f"Answer ({r.tier}): {r.answer}" if r.status == "ok" else f"({r.status})")
        for r in parent.subtask_results
    )
    _add_text(call.messages[-1], f"{SYNTHESIS_INSTRUCTIONS}\n\n{answers}")
    return call
