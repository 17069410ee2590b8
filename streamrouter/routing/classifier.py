"""The classification contract shared with the model that routes requests.

The cheapest tier is asked, through forced tool use (``classify_tool()``) or JSON-schema
output (``CLASSIFY_SCHEMA``), how hard a request is. ``parse_classification`` turns either
payload into a ``Classification``; ``tier_for_complexity`` maps it onto the ordered tiers.

The schema has no ``minimum``/``maximum``: Anthropic's structured-output mode rejects numeric
bounds, so the range is stated in the description and enforced here by clamping.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streamrouter.routing.answer import unit_float_or_none

__all__ = [
    "CLASSIFIER_SYSTEM",
    "CLASSIFY_SCHEMA",
    "CLASSIFY_TOOL_NAME",
    "COMPLEXITIES",
    "Classification",
    "ClassifierOutputError",
    "classify_tool",
    "parse_classification",
    "tier_for_complexity",
]

CLASSIFY_TOOL_NAME: Final = "classify_request"

COMPLEXITIES: Final = ("simple", "medium", "hard")

CLASSIFY_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "complexity": {
            "type": "string",
            "enum": list(COMPLEXITIES),
            "description": (
                "simple: a small fast model answers it well; medium: needs a capable model; "
                "hard: needs the strongest model."
            ),
        },
        "confidence": {
            "type": "number",
            "description": "How sure you are of this judgement, from 0.0 to 1.0.",
        },
        "reason": {
            "type": "string",
            "description": "One short sentence on why.",
        },
    },
    "required": ["complexity", "confidence", "reason"],
    "additionalProperties": False,
}

CLASSIFIER_SYSTEM: Final = (
    "You route requests to language models. Do not answer the request. Judge how hard it "
    "would be for a small, fast model to answer it correctly and completely: simple (a "
    "small model does it well), medium (needs a capable model), or hard (needs the "
    "strongest model: deep reasoning, long multi-step work, subtle code or design). "
    f"Reply only by calling the {CLASSIFY_TOOL_NAME} tool."
)


class ClassifierOutputError(ValueError):
    """The classifier's output is not a usable classification (junk, wrong shape, bad value)."""


@dataclass(frozen=True, slots=True)
class Classification:
    complexity: str
    """One of ``COMPLEXITIES``."""
    confidence: float
    """In [0, 1]."""
    reason: str


def classify_tool() -> dict[str, Any]:
    """The Anthropic tool definition to force with ``tool_choice={"type": "tool", ...}``."""
    return {
        "name": CLASSIFY_TOOL_NAME,
        "description": "Record how hard the request is for a small model to answer.",
        "input_schema": copy.deepcopy(dict(CLASSIFY_SCHEMA)),
    }


def parse_classification(payload: Mapping[str, Any] | str) -> Classification:
    """Parse a ``classify_request`` tool_use ``input`` or a JSON text (JSON-schema output).

    Tolerated: complexity in any case and with surrounding whitespace, confidence as a
    numeric string, confidence outside [0, 1] (clamped), a missing or null reason (``""``).
    Anything else raises ``ClassifierOutputError``.
    """
    data = _as_mapping(payload)
    complexity = data.get("complexity")
    if not isinstance(complexity, str) or complexity.strip().lower() not in COMPLEXITIES:
        raise ClassifierOutputError(f"complexity must be one of {COMPLEXITIES}: {complexity!r}")
    confidence = _as_unit_float(data.get("confidence"))
    reason = data.get("reason")
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise ClassifierOutputError(f"reason must be a string: {reason!r}")
    return Classification(complexity.strip().lower(), confidence, reason.strip())


def tier_for_complexity(complexity: str, tiers: Sequence[str]) -> str:
    """Map a complexity onto ordered ``tiers`` (cheapest first).

    simple -> ``tiers[0]``; hard -> ``tiers[-1]``; medium -> ``tiers[len(tiers) // 2]``, the
    middle tier, or the upper of the two middle tiers when the count is even (so with two
    tiers medium goes to the stronger one, and with one tier everything goes to it).
    """
    if not tiers:
        raise ValueError("tiers must not be empty")
    key = complexity.strip().lower()
    if key == "simple":
        return tiers[0]
    if key == "medium":
        return tiers[len(tiers) // 2]
    if key == "hard":
        return tiers[-1]
    raise ValueError(f"complexity must be one of {COMPLEXITIES}: {complexity!r}")


def _as_mapping(payload: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise ClassifierOutputError(f"classifier output is not JSON: {exc}") from exc
    if not isinstance(payload, Mapping):
        raise ClassifierOutputError(
            f"classifier output must be an object, got {type(payload).__name__}"
        )
    return payload


def _as_unit_float(value: object) -> float:
    number = unit_float_or_none(value)
    if number is None:
        raise ClassifierOutputError(f"confidence must be a number: {value!r}")
    return number
