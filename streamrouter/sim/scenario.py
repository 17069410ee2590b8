"""The simulator's scenario: latency and an ordered list of rules, validated once at load.

A scenario file (YAML or JSON) looks like::

    latency_ms: {mean: 40, jitter: 10}
    rules:                        # first rule whose regex matches the last user turn wins
      - match: "(?i)commit message"
        model: "claude-haiku-*"   # optional fnmatch glob on the requested model
        answer: "fix: handle empty input"
        confidence: 0.95
      - match: "BUSY"
        error: overloaded         # rate_limited | overloaded | server_error | timeout
        times: 2                  # fail the first 2 matching calls, then fall through
      - match: "(?i)weather"
        answer: "Let me look that up."       # optional text before the tool call
        tool_use: {name: get_weather, input: {city: Paris}}
    faults: {rate: 0.3, seed: 1}  # optional: failures injected before any rule (sim.faults)
    batches:                      # optional: the Message Batches endpoints (sim.batches)
      processing_s: 1             # how long a batch takes to end (default 1 s)
      expire_match: "(?i)slow"    # requests whose last user turn matches end 'expired'

A batch request is answered by the same rules as a ``POST /v1/messages`` call with its
``params``: an ``error`` rule makes it ``errored`` with that error, and a ``timeout`` rule
(a call that never answers) makes it ``expired``, as does ``batches.expire_match``.

A ``tool_use`` rule answers with a ``tool_use`` block (``stop_reason: tool_use``) when the
request offers a tool of that name and ``tool_choice`` is not ``none``; otherwise it is
answered as if it had no ``tool_use``. When the request forces that very tool (or any
tool, ``tool_choice: any``), the rule's call is the forced one.

``Scenario`` is immutable; how often an error rule has fired lives in ``RuleCounters``,
which ``select_rule`` consults and updates.
"""

from __future__ import annotations

import json
import random
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streamrouter.errors import ConfigError
from streamrouter.sim.faults import Faults
from streamrouter.sim.replay import ReplaySpec

__all__ = [
    "BatchBehaviour",
    "Complexity",
    "ErrorKind",
    "Latency",
    "Rule",
    "RuleCounters",
    "Scenario",
    "StopReason",
    "ToolUse",
    "select_rule",
]

Complexity = Literal["simple", "medium", "hard"]
ErrorKind = Literal["rate_limited", "overloaded", "server_error", "timeout"]
StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Latency(BaseModel):
    """Simulated latency in milliseconds: ``mean`` plus a uniform draw in ±``jitter``."""

    model_config = _FROZEN

    mean: float = Field(default=0.0, ge=0)
    jitter: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"mean": value}
        return value

    def sample_seconds(self, rng: random.Random) -> float:
        """One latency draw, in seconds, never negative."""
        jitter = rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return max(0.0, self.mean + jitter) / 1000.0


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from exc
    return pattern


class ToolUse(BaseModel):
    """A rule's tool call: the model calls tool ``name`` (if the request offers it)."""

    model_config = _FROZEN

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    input: dict[str, Any] = Field(default_factory=dict)


class Rule(BaseModel):
    """One scenario rule. ``match`` is a regex searched in the last user turn's text (its
    text blocks and tool_result text, see ``sim.content.last_user_text``)."""

    model_config = _FROZEN

    match: str
    model: str | None = None
    answer: str | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    complexity: Complexity | None = None
    stop_reason: StopReason | None = None
    output_tokens: int | None = Field(default=None, ge=0)
    subtasks: int | None = Field(default=None, ge=0)  # for planner calls: how many to plan
    error: ErrorKind | None = None
    times: int | None = Field(default=None, ge=1)
    retry_after: float = Field(default=1.0, ge=0)
    latency_ms: Latency | None = None
    tool_use: ToolUse | None = None  # answer with a tool_use block (see sim.reply)

    @field_validator("match")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return _regex(pattern)

    @model_validator(mode="after")
    def _times_needs_error(self) -> Rule:
        if self.times is not None and self.error is None:
            raise ValueError("'times' only applies to a rule with an 'error'")
        if self.tool_use is not None and self.error is not None:
            raise ValueError("a rule with an 'error' cannot also have a 'tool_use'")
        return self

    def matches(self, model: str, last_user_text: str) -> bool:
        """Whether the regex finds the text and the optional glob matches the model."""
        if self.model is not None and not fnmatchcase(model, self.model):
            return False
        return re.search(self.match, last_user_text) is not None


class BatchBehaviour(BaseModel):
    """How the simulated Message Batches API behaves (see ``sim.batches``)."""

    model_config = _FROZEN

    processing_s: float = Field(default=1.0, ge=0)  # from create to ``ended``
    expire_match: str | None = None  # regex on the last user turn: those requests expire

    @field_validator("expire_match")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        return None if pattern is None else _regex(pattern)

    def expires(self, last_user_text: str) -> bool:
        """Whether a batch request with this last user turn ends ``expired``."""
        return self.expire_match is not None and bool(re.search(self.expire_match, last_user_text))


class Scenario(BaseModel):
    """The whole scenario. ``Scenario()`` is the empty one: no latency, no rules."""

    model_config = _FROZEN

    latency_ms: Latency = Latency()
    rules: tuple[Rule, ...] = ()
    faults: Faults | None = None
    replay: ReplaySpec | None = None  # recorded answers by prompt (streamrouter.sim.replay)
    batches: BatchBehaviour = BatchBehaviour()

    @classmethod
    def from_data(
        cls, data: Any, *, source: str = "scenario", base_dir: Path | None = None
    ) -> Scenario:
        """Validate already-parsed data; every problem is a ``ConfigError`` naming the field.

        ``base_dir`` resolves a relative ``replay.path`` (the scenario file's folder).
        """
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level")
        try:
            return cls.model_validate(data, context={"base_dir": base_dir})
        except ValidationError as exc:
            raise ConfigError(f"{source}: {_describe(exc)}") from exc

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a YAML or JSON scenario file (``.json`` is parsed as JSON, anything else YAML)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read scenario file {path}: {exc}") from exc
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigError(
                f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
            ) from exc
        return cls.from_data(data, source=str(path), base_dir=path.parent)


def _describe(exc: ValidationError) -> str:
    """``rules[1].error: Input should be ...; ...`` from a pydantic error."""
    problems = []
    for error in exc.errors():
        loc = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        message = message.removeprefix("Value error, ")
        problems.append(f"{loc.lstrip('.') or '(top level)'}: {message}")
    return "; ".join(problems)


class RuleCounters:
    """How many times each error rule with ``times`` has fired (by rule index)."""

    def __init__(self) -> None:
        self._fired: dict[int, int] = {}

    def fired(self, index: int) -> int:
        return self._fired.get(index, 0)

    def record(self, index: int) -> None:
        self._fired[index] = self.fired(index) + 1

    def reset(self) -> None:
        self._fired.clear()


def select_rule(
    scenario: Scenario, counters: RuleCounters, model: str, last_user_text: str
) -> Rule | None:
    """The first rule that matches, or None.

    An error rule with ``times: N`` matches only its first N calls (each one is recorded in
    ``counters``); after that the rules below it are tried.
    """
    for index, rule in enumerate(scenario.rules):
        if not rule.matches(model, last_user_text):
            continue
        if rule.times is not None:
            if counters.fired(index) >= rule.times:
                continue
            counters.record(index)
        return rule
    return None
