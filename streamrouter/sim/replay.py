"""The simulator's replay mode: recorded answers, keyed by the exact prompt.

A scenario's ``replay`` key names a labeled dataset (RouteLLM CSV or JSONL, see
:mod:`streamrouter.eval.dataset`) and which recorded model plays which requested model::

    replay:
      path: gsm8k_responses.csv        # relative to the scenario file
      models: {"claude-haiku-*": "mistralai/Mixtral-8x7B-Instruct-v0.1",
               "claude-opus-*": "gpt-4-1106-preview"}

An answer call (forced ``submit_answer`` tool, JSON-schema output or plain text) whose
model matches a glob and whose last user message is a recorded prompt is answered with
that model's recorded response text, as the ``answer``. On an escalation the pipeline
appends the previous tier's answer after a ``\\n\\n---\\n`` line; the prompt before it
is looked up. Scenario rules still come first (fault injection keeps working), and
anything not recorded (classification calls, unknown prompts or models) is simulated
as usual.

What is reported, honestly: recorded data has no self-reported confidence, so the
answer carries **none** (the ``confidence`` field is left out, as a model that ignored
it would); the service then falls back to its prior and the response heuristics.
Output tokens are estimated from the text (about four characters a token); an answer
longer than ``max_tokens`` allows is cut and ends with ``stop_reason: max_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from streamrouter.errors import ConfigError
from streamrouter.eval.dataset import load_dataset

if TYPE_CHECKING:
    from streamrouter.sim.reply import SimRequest

__all__ = ["ESCALATION_SEPARATOR", "ReplayBook", "ReplaySpec", "recorded_message", "replay_reply"]

ESCALATION_SEPARATOR = "\n\n---\n"
"""What the pipeline puts between the user's prompt and the previous tier's answer."""


class ReplaySpec(BaseModel):
    """The scenario's ``replay`` key. A relative ``path`` is resolved against the scenario
    file's folder (validation context ``base_dir``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    format: Literal["routellm", "jsonl"] | None = None
    models: dict[str, str] = Field(min_length=1)
    """Glob on the requested model -> the dataset's model column."""

    @field_validator("path")
    @classmethod
    def _resolve(cls, path: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir")
        return path if path.is_absolute() or base is None else Path(base) / path


class ReplayBook:
    """Recorded responses by prompt and model column, loaded once."""

    def __init__(self, spec: ReplaySpec, responses: Mapping[str, Mapping[str, str]]) -> None:
        self.spec = spec
        self._responses = responses

    @classmethod
    def load(cls, spec: ReplaySpec) -> ReplayBook:
        """Read the dataset; ``ConfigError`` if it is unreadable or lacks a mapped column."""
        dataset = load_dataset(spec.path, spec.format)
        dataset.require_models(*spec.models.values())
        for column in spec.models.values():
            if not dataset.has_responses(column):
                raise ConfigError(f"{spec.path}: no recorded responses for {column!r}")
        responses: dict[str, dict[str, str]] = {}
        for example in dataset.examples:
            recorded = responses.setdefault(example.prompt, {})
            for column, text in example.responses.items():
                recorded.setdefault(column, text)  # a repeated prompt keeps its first answer
        return cls(spec, responses)

    def column_for(self, model: str) -> str | None:
        return next(
            (col for glob, col in self.spec.models.items() if fnmatchcase(model, glob)), None
        )

    def lookup(self, model: str, last_user: str) -> str | None:
        """The recorded answer of the column mapped to ``model`` for this prompt, or None."""
        column = self.column_for(model)
        if column is None:
            return None
        for prompt in _candidate_prompts(last_user):
            recorded = self._responses.get(prompt)
            if recorded is not None and column in recorded:
                return recorded[column]
        return None


def _candidate_prompts(text: str) -> list[str]:
    """The text itself, then each prefix before an escalation separator (right to left)."""
    candidates = [text]
    end = len(text)
    while (end := text.rfind(ESCALATION_SEPARATOR, 0, end)) > 0:
        candidates.append(text[:end])
    return candidates


def replay_reply(
    book: ReplayBook, request: SimRequest, *, message_id: str, tool_use_id: str
) -> dict[str, Any] | None:
    """The API's ``message`` answering ``request`` with its recorded text, or None when
    nothing is recorded for it (a classification, an unknown prompt or model)."""
    if request.kind not in ("answer", "text"):
        return None
    text = book.lookup(request.model, request.last_user)
    if text is None:
        return None
    return recorded_message(request, text, message_id=message_id, tool_use_id=tool_use_id)


def recorded_message(
    request: SimRequest, text: str, *, message_id: str, tool_use_id: str
) -> dict[str, Any]:
    """The API's ``message`` carrying ``text`` as the answer, with no self-confidence."""
    from streamrouter.sim.behaviour import estimate_tokens  # sim.behaviour imports scenario

    mode, max_tokens = request.mode, request.max_tokens
    payload = {"answer": text, "reasoning": ""}
    full = text if mode == "text" else json.dumps(payload)
    produced = estimate_tokens(full)
    truncated = produced > max_tokens
    if truncated:
        payload["answer"] = text[: max(1, max_tokens * 4 - 40)]
    if mode == "tool":
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": tool_use_id,
            "name": request.tool_name,
            "input": payload,
        }
        natural_stop = "tool_use"
    else:
        body = payload["answer"] if mode == "text" else json.dumps(payload)
        block = {"type": "text", "text": body}
        natural_stop = "end_turn"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [block],
        "stop_reason": "max_tokens" if truncated else natural_stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": request.input_tokens,
            "output_tokens": max_tokens if truncated else produced,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
