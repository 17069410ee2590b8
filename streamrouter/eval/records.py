"""Per-request evaluation records: what each model call cost and how sure the tier was.

A ``RequestRecord`` holds, for one labeled prompt, the weak tier's call (with the
combined confidence the pipeline computed for it) and the strong tier's call, plus the
dataset's correctness labels for both models. Every policy's outcome on that prompt can
then be computed from the record exactly as the pipeline would decide it
(:mod:`streamrouter.eval.policies`). Records are written as JSONL (``--out``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamrouter.events import Attempt, LLMResult
from streamrouter.llm.pricing import PriceTable, TokenUsage, price_usage

__all__ = ["CallRecord", "RequestRecord", "read_records", "record_from_result", "write_records"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One model call on a request's path."""

    model: str
    confidence: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    recorded: bool = True
    """The answer was the dataset's recorded text (False: the simulator made one up)."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    prompt: str
    split: str
    weak_correct: bool
    strong_correct: bool
    weak: CallRecord
    strong: CallRecord
    """The strong call; for the cascade run it is the escalated call."""
    direct_strong_cost_usd: float
    """What the strong model alone would cost (the weak call's input tokens: same prompt)."""
    scores: dict[str, float] = field(default_factory=dict)
    """Router scores by router name (e.g. the learned router's P(weak is not enough))."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestRecord:
        values = dict(data)
        values["weak"] = CallRecord(**values["weak"])
        values["strong"] = CallRecord(**values["strong"])
        return cls(**values)


def _call(attempt: Attempt, recorded: bool) -> CallRecord:
    return CallRecord(
        model=attempt.model,
        confidence=attempt.confidence,
        input_tokens=attempt.input_tokens,
        output_tokens=attempt.output_tokens,
        cost_usd=attempt.cost_usd,
        latency_ms=attempt.latency_ms,
        recorded=recorded,
    )


def record_from_result(
    result: LLMResult,
    *,
    prompt: str,
    split: str,
    weak_correct: bool,
    strong_correct: bool,
    weak_tier: str,
    strong_tier: str,
    strong_model: str,
    prices: PriceTable,
    strong_answer: str,
    weak_recorded: bool,
) -> RequestRecord:
    """The record of one cascade-run result (the weak tier always escalates).

    ``strong_answer`` is the dataset's strong answer, to check that the simulator served
    it; ``weak_recorded`` says whether the weak call's confidence is the one computed from
    the recorded weak answer. Raises ``ValueError`` when the result lacks either call.
    """
    answered = [a for a in result.attempts if a.outcome in ("answered", "escalated")]
    weak = next((a for a in answered if a.tier == weak_tier), None)
    strong = next((a for a in answered if a.tier == strong_tier), None)
    if result.status != "ok" or weak is None or strong is None:
        raise ValueError(
            f"{result.request_id}: expected a {weak_tier} call escalated to {strong_tier}, "
            f"got status {result.status} with attempts "
            f"{[(a.tier, a.outcome) for a in result.attempts]}"
        )
    strong_recorded = (result.answer or "").strip() == strong_answer.strip()
    direct = price_usage(
        prices.price_for(strong_model),
        TokenUsage(input_tokens=weak.input_tokens, output_tokens=strong.output_tokens),
    )
    return RequestRecord(
        request_id=result.request_id,
        prompt=prompt,
        split=split,
        weak_correct=weak_correct,
        strong_correct=strong_correct,
        weak=_call(weak, recorded=weak_recorded),
        strong=_call(strong, recorded=strong_recorded),
        direct_strong_cost_usd=direct,
    )


def write_records(path: Path, records: Iterable[RequestRecord]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.to_json()) + "\n")


def read_records(path: Path) -> list[RequestRecord]:
    with path.open(encoding="utf-8") as handle:
        return [RequestRecord.from_json(json.loads(line)) for line in handle if line.strip()]
