"""Deterministic "plausible" behaviour when no scenario rule supplies a value.

Everything is a pure function of the prompt and the model id, seeded by a SHA-256 of the
prompt (never Python's salted ``hash()``), so the same prompt gets the same answer on
every run. Bigger tiers are more capable; harder-looking prompts get lower confidence.
The noise depends on the prompt only, so on one prompt a bigger model's confidence is
never below a smaller one's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from streamrouter.sim.scenario import Complexity
from streamrouter.sim.tokens import count_input_tokens, estimate_tokens  # re-exported

__all__ = [
    "SimAnswer",
    "SimClassification",
    "capability",
    "classify",
    "count_input_tokens",
    "difficulty",
    "estimate_tokens",
    "simulate_answer",
]

_HARD_WORDS = re.compile(
    r"\b(prove|proof|design|architect\w*|debug\w*|distributed|optimi[sz]\w*|concurren\w*"
    r"|race condition|deadlock|refactor\w*|scalab\w*|consensus|theorem|trade-?offs?)\b",
    re.IGNORECASE,
)
_HARD_MARKER = re.compile(r"\bHARD\b")  # case-sensitive: an explicit marker in test prompts
_SIMPLE_BELOW = 0.2
_HARD_FROM = 0.5


@dataclass(frozen=True, slots=True)
class SimClassification:
    complexity: Complexity
    confidence: float
    reason: str


@dataclass(frozen=True, slots=True)
class SimAnswer:
    answer: str
    confidence: float
    reasoning: str


def _unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(high, max(low, value))


def capability(model: str) -> float:
    """How capable a model id looks: haiku < sonnet < opus (unknown ids rank as sonnet)."""
    name = model.lower()
    if "opus" in name:
        return 0.9
    if "haiku" in name:
        return 0.5
    return 0.7


def difficulty(prompt: str) -> float:
    """How hard a prompt looks, in [0, 1]: length plus hard-looking words."""
    length_part = min(len(prompt) / 3000, 1.0) * 0.35
    words = {match.lower() for match in _HARD_WORDS.findall(prompt)}
    words_part = min(len(words) * 0.2, 0.6)
    marker_part = 0.6 if _HARD_MARKER.search(prompt) else 0.0
    return _clamp(length_part + words_part + marker_part)


def classify(model: str, prompt: str) -> SimClassification:
    """A complexity for the prompt, and how sure the classifier is (less so near a boundary)."""
    level = _clamp(difficulty(prompt) + (_unit("complexity", prompt) - 0.5) * 0.1)
    if level < _SIMPLE_BELOW:
        complexity: Complexity = "simple"
    elif level < _HARD_FROM:
        complexity = "medium"
    else:
        complexity = "hard"
    margin = min(abs(level - _SIMPLE_BELOW), abs(level - _HARD_FROM))
    noise = (_unit("classify-confidence", prompt) - 0.5) * 0.06
    confidence = _clamp(0.6 + 1.2 * margin + 0.2 * capability(model) + noise, 0.0, 0.99)
    reason = f"simulated: prompt difficulty {level:.2f} ({len(prompt)} chars)"
    return SimClassification(complexity, round(confidence, 3), reason)


def simulate_answer(model: str, prompt: str) -> SimAnswer:
    """A deterministic answer text and a confidence: lower for harder prompts, higher for
    bigger models."""
    level = difficulty(prompt)
    skill = capability(model)
    noise = (_unit("answer-confidence", prompt) - 0.5) * 0.08
    confidence = _clamp(0.98 - (1 - skill) * (0.15 + level) + noise)
    gist = " ".join(prompt.split()[:16])
    answer = f"[{model}] Simulated answer to: {gist}" if gist else f"[{model}] Simulated answer."
    reasoning = f"simulated: difficulty {level:.2f}, capability {skill:.2f}"
    return SimAnswer(answer, round(confidence, 3), reasoning)


def plan_payload(prompt: str, subtasks: int | None) -> dict[str, Any]:
    """A planner's split of ``prompt`` into ``subtasks`` parts (2 to 4 when not given)."""
    count = subtasks if subtasks is not None else 2 + int(_unit("plan", prompt) * 3)
    excerpt = " ".join(prompt.split()[:24])
    return {
        "subtasks": [
            {"prompt": f"Part {index} of {count}: {excerpt}", "tier": "haiku"}
            for index in range(1, count + 1)
        ],
        "reasoning": f"simulated: split into {count} independent parts",
    }
