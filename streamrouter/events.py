"""The event types, as pydantic mirrors of the Avro records in ``schemas/``.

The ``.avsc`` files are the contract; these models are their Python face (the tests check
that field names, required fields, defaults and enum symbols agree). Wire encoding lives
in :mod:`streamrouter.codec`.

Conventions: models are frozen (fields cannot be reassigned: derive a new event with
``model_copy(update=...)``, and treat the lists and dicts inside as read-only too); Avro
enums are ``Literal`` strings; ``timestamp-millis`` fields are timezone-aware UTC
``datetime`` values truncated to the millisecond, and accept a ``datetime``, epoch
milliseconds, or an ISO-8601 string (no offset means UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from streamrouter.blocks import (
    MessageContent,
    SystemContent,
    TextBlock,
    Thinking,
    Tool,
    ToolChoice,
    api_blocks,
    block_texts,
)
from streamrouter.result_blocks import ResultBlock

__all__ = [
    "FAILED_OUTCOMES",
    "Attempt",
    "AttemptOutcome",
    "Complexity",
    "DeadLetter",
    "ErrorInfo",
    "Escalation",
    "FanInEvent",
    "Feedback",
    "FeedbackLabel",
    "FeedbackSource",
    "LLMRequest",
    "LLMResult",
    "Message",
    "MessageRole",
    "Record",
    "RequestMode",
    "ResultStatus",
    "Route",
    "RouteStrategy",
    "ServiceTier",
    "Subtask",
    "SubtaskResult",
    "UtcDatetime",
    "WorkItem",
]

MessageRole = Literal["user", "assistant"]
RequestMode = Literal["route", "orchestrate"]
RouteStrategy = Literal["task_map", "classifier", "bypass", "pinned", "orchestrator", "learned"]
Complexity = Literal["simple", "medium", "hard"]
AttemptOutcome = Literal[
    "classified",
    "answered",
    "escalated",
    "rate_limited",
    "overloaded",
    "failed",
    "planned",
    "synthesized",
]
ResultStatus = Literal["ok", "error"]
FeedbackLabel = Literal["good", "bad"]
FeedbackSource = Literal["user", "judge"]
ServiceTier = Literal["auto", "standard_only"]

# The outcomes of a call that failed (and that a fallback chain moves past).
FAILED_OUTCOMES: frozenset[str] = frozenset({"rate_limited", "overloaded", "failed"})

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1

# Avro int / long ranges, so that a valid model always encodes.
_Int32 = Annotated[int, Field(ge=-(2**31), le=_INT32_MAX)]
_Int64 = Annotated[int, Field(ge=-(2**63), le=_INT64_MAX)]
_TokenCount = Annotated[int, Field(ge=0, le=_INT32_MAX)]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _to_utc_millis(value: Any) -> Any:
    """Normalise a timestamp-millis input; anything unrecognised is left to pydantic."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = _EPOCH + timedelta(milliseconds=int(value))
        elif isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            return value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    except (OverflowError, ValueError) as exc:  # inf, nan, beyond year 9999, not ISO-8601
        raise ValueError(f"not a timestamp (epoch millis or ISO-8601): {value!r}") from exc
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_to_utc_millis)]
"""An Avro ``timestamp-millis``: aware UTC datetime, millisecond precision."""


class Record(BaseModel):
    """Base of every model that mirrors an Avro record of the same name."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Message(Record):
    role: MessageRole
    content: MessageContent

    @property
    def text(self) -> str:
        """The content if it is a string, else its text blocks' text, one per line."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(b.text for b in self.content if isinstance(b, TextBlock))

    def to_api(self) -> dict[str, Any]:
        """The message as the Messages API takes it (blocks as sent, nulls left out)."""
        return {"role": self.role, "content": api_blocks(self.content)}


class LLMRequest(Record):
    """A request, in the Messages API's own field names plus the routing fields.

    ``metadata`` is the service's string map; its ``user_id`` key is also the API's
    ``metadata.user_id``.
    """

    request_id: str = Field(min_length=1)
    tenant: str = "default"
    task_type: str | None = None
    mode: RequestMode = "route"
    tier: str | None = None
    system: SystemContent | None = None
    messages: list[Message] = Field(default_factory=list)
    max_tokens: int = Field(default=1024, ge=1, le=_INT32_MAX)
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: UtcDatetime | None = None
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0, le=_INT32_MAX)
    stop_sequences: list[str] = Field(default_factory=list)
    thinking: Thinking | None = None
    service_tier: ServiceTier | None = None

    @property
    def last_user_message(self) -> Message | None:
        return next((m for m in reversed(self.messages) if m.role == "user"), None)

    @property
    def last_user_text(self) -> str:
        """The text of the last user message ("" if there is none): its string content,
        or its text blocks' text, one per line."""
        last = self.last_user_message
        return "" if last is None else last.text

    @property
    def system_blocks(self) -> list[dict[str, Any]]:
        """The system prompt as text blocks in the API's form (their cache_control kept)."""
        if self.system is None or self.system == "":
            return []
        if isinstance(self.system, str):
            return [{"type": "text", "text": self.system}]
        return [block.model_dump(exclude_none=True) for block in self.system]

    @property
    def prompt_chars(self) -> int:
        """Characters of text in the system prompt and every message (images and
        base64 documents count by their bytes, elsewhere)."""
        system = self.system or ""
        chars = len(system) if isinstance(system, str) else sum(len(b.text) for b in system)
        for message in self.messages:
            if isinstance(message.content, str):
                chars += len(message.content)
            else:
                chars += sum(len(t) for b in message.content for t in block_texts(b))
        return chars

    @property
    def api_parameters(self) -> dict[str, Any]:
        """The sampling and account parameters sent to every model as given:
        ``temperature``, ``top_p``, ``top_k``, ``stop_sequences``, ``service_tier``
        and ``metadata.user_id`` (only those set)."""
        params: dict[str, Any] = {
            key: value
            for key in ("temperature", "top_p", "top_k", "service_tier")
            if (value := getattr(self, key)) is not None
        }
        if self.stop_sequences:
            params["stop_sequences"] = list(self.stop_sequences)
        if "user_id" in self.metadata:
            params["metadata"] = {"user_id": self.metadata["user_id"]}
        return params


class Route(Record):
    strategy: RouteStrategy
    complexity: Complexity | None = None
    reason: str = ""


class Attempt(Record):
    tier: str
    model: str
    outcome: AttemptOutcome
    input_tokens: _TokenCount = 0
    output_tokens: _TokenCount = 0
    cache_read_input_tokens: _TokenCount = 0
    cache_creation_input_tokens: _TokenCount = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    confidence: float | None = None
    subtask_id: str | None = None


class ErrorInfo(Record):
    type: str
    message: str


class Escalation(Record):
    """What a tier hands to the next one when its answer was not confident enough."""

    from_tier: str
    answer: str
    reasoning: str = ""
    confidence: float


class Subtask(Record):
    """Internal: one subtask of an orchestrated request's plan."""

    subtask_id: str
    prompt: str
    tier: str


class SubtaskResult(Record):
    """Internal: what one subtask produced, as handed to the synthesizer."""

    subtask_id: str
    prompt: str = ""
    status: str
    answer: str | None = None
    tier: str | None = None
    model: str | None = None


class WorkItem(Record):
    """Internal: a request in flight on the classify, tier and orchestration topics."""

    request: LLMRequest
    route: Route | None = None
    tier: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    escalation: Escalation | None = None
    received_at: UtcDatetime
    max_tier: str | None = None
    parent_id: str | None = None
    subtask_id: str | None = None
    plan: list[Subtask] = Field(default_factory=list)
    plan_note: str = ""
    subtask_results: list[SubtaskResult] = Field(default_factory=list)

    @property
    def total_cost_usd(self) -> float:
        """Cost of every attempt so far, in US dollars."""
        return sum(a.cost_usd for a in self.attempts)


class LLMResult(Record):
    """The one result per request. ``answer`` is the text of the answer; ``content`` the
    answering model's own blocks (text, tool_use, thinking...), with the call's
    ``stop_reason`` and ``stop_sequence``."""

    request_id: str
    tenant: str
    status: ResultStatus
    answer: str | None = None
    tier: str | None = None
    model: str | None = None
    confidence: float | None = None
    route: Route | None = None
    escalated: bool = False
    fallback_used: bool = False
    attempts: list[Attempt] = Field(default_factory=list)
    total_cost_usd: float = 0.0
    total_latency_ms: float = 0.0
    error: ErrorInfo | None = None
    trace_id: str | None = None
    completed_at: UtcDatetime
    content: list[ResultBlock] = Field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None


class FanInEvent(Record):
    """Internal: a plan, a subtask result or a deadline tick for one orchestrated request."""

    plan: WorkItem | None = None
    result: LLMResult | None = None
    tick: bool = False


class DeadLetter(Record):
    key: bytes | None = None
    value: bytes
    topic: str
    partition: _Int32
    offset: _Int64
    error_type: str
    error_message: str
    failed_at: UtcDatetime


class Feedback(Record):
    """A verdict on a request's result: a user's thumbs up or down, or a judge's score."""

    request_id: str = Field(min_length=1)
    label: FeedbackLabel | None = None
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    source: FeedbackSource = "user"
    comment: str | None = Field(default=None, max_length=2000)
    at: UtcDatetime

    @model_validator(mode="after")
    def _has_a_verdict(self) -> Feedback:
        if self.label is None and self.score is None:
            raise ValueError("feedback needs a label (good or bad) or a score (0 to 1)")
        return self

    @property
    def good(self) -> bool:
        """The verdict as good or not: the label, else a score of at least a half."""
        return self.label == "good" if self.label is not None else (self.score or 0.0) >= 0.5
