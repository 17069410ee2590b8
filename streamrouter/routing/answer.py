"""The answer contract: how a tier returns an answer with a self-reported confidence.

A tier is asked to call ``submit_answer`` (forced tool use) or, for models that need it, to
emit JSON matching ``ANSWER_SCHEMA`` (JSON-schema output mode). ``parse_answer`` reads the
Messages API response content (as plain dicts) in that order of preference and falls back
to plain text with no self-reported confidence.

The schema has no ``minimum``/``maximum``: Anthropic's structured-output mode rejects numeric
bounds, so the range is stated in the description and enforced here by clamping.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "ANSWER_SCHEMA",
    "ANSWER_TOOL_NAME",
    "ParsedAnswer",
    "answer_tool",
    "parse_answer",
    "structured_payload",
    "unit_float_or_none",
]

ANSWER_TOOL_NAME: Final = "submit_answer"

ANSWER_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "answer": {
            "type": "string",
            "description": "The complete final answer to the request.",
        },
        "confidence": {
            "type": "number",
            "description": (
                "How likely the answer is correct and complete, from 0.0 to 1.0. "
                "Be honest: a low value sends the request to a stronger model."
            ),
        },
        "reasoning": {
            "type": "string",
            "description": "Brief notes on how you reached the answer and what is uncertain.",
        },
    },
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    answer: str
    """The answer text; ``""`` when the response carried none."""
    self_confidence: float | None
    """The model's own confidence in [0, 1], or ``None`` when it reported none."""
    reasoning: str
    tool_calls: int
    """How many tool_use blocks the response had (the forced tool counts)."""


def answer_tool() -> dict[str, Any]:
    """The Anthropic tool definition to force with ``tool_choice={"type": "tool", ...}``."""
    return {
        "name": ANSWER_TOOL_NAME,
        "description": "Submit the final answer to the request with your confidence in it.",
        "input_schema": copy.deepcopy(dict(ANSWER_SCHEMA)),
    }


def parse_answer(content_blocks: Sequence[Mapping[str, Any]]) -> ParsedAnswer:
    """Read an answer from Messages API response content blocks (plain dicts).

    Preference:

    1. the last ``submit_answer`` tool_use block whose ``input.answer`` is a string;
    2. else the last text block that is a JSON object with a string ``answer``
       (JSON-schema output mode);
    3. else all text blocks joined by newlines, with ``self_confidence=None``.

    A confidence that is not a number (or numeric string) is ``None``; one outside [0, 1]
    is clamped. ``tool_calls`` counts every tool_use block, whatever its name.
    """
    tool_inputs = [
        block.get("input")
        for block in content_blocks
        if block.get("type") == "tool_use" and block.get("name") == ANSWER_TOOL_NAME
    ]
    texts = [
        block["text"]
        for block in content_blocks
        if block.get("type") == "text" and isinstance(block.get("text"), str)
    ]
    tool_calls = sum(1 for block in content_blocks if block.get("type") == "tool_use")

    structured = [data for data in tool_inputs if _has_answer(data)]
    if not structured:
        structured = [data for data in map(_json_object, texts) if _has_answer(data)]
    if structured:
        data = structured[-1]
        reasoning = data.get("reasoning")
        return ParsedAnswer(
            answer=data["answer"].strip(),
            self_confidence=unit_float_or_none(data.get("confidence")),
            reasoning=reasoning.strip() if isinstance(reasoning, str) else "",
            tool_calls=tool_calls,
        )
    return ParsedAnswer(
        answer="\n".join(texts).strip(),
        self_confidence=None,
        reasoning="",
        tool_calls=tool_calls,
    )


def parse_natural(content_blocks: Sequence[Mapping[str, Any]]) -> ParsedAnswer:
    """Read a natural answer (no submit_answer tool): its text blocks, joined without a
    separator as the API's text is, and no self-report. ``tool_calls`` counts the
    caller's own tool calls."""
    texts = [
        block["text"]
        for block in content_blocks
        if block.get("type") == "text" and isinstance(block.get("text"), str)
    ]
    tool_calls = sum(1 for block in content_blocks if block.get("type") == "tool_use")
    return ParsedAnswer("".join(texts), None, "", tool_calls)


def _has_answer(data: object) -> bool:
    return isinstance(data, Mapping) and isinstance(data.get("answer"), str)


def _json_object(text: str) -> Mapping[str, Any] | None:
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        return None
    return data if isinstance(data, Mapping) else None


def unit_float_or_none(value: object) -> float | None:
    """A confidence as the model may write it (number or numeric string), clamped to
    [0, 1]; ``None`` when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if math.isnan(number):
        return None
    return min(1.0, max(0.0, number))


def structured_payload(content_blocks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | str:
    """The forced tool's input, or else the text (JSON-schema output mode)."""
    for block in content_blocks:
        if block.get("type") == "tool_use":
            return block.get("input") or {}
    return "".join(b.get("text", "") for b in content_blocks if b.get("type") == "text")
