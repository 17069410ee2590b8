"""Assembling attempts and results from what happened. Pure: no I/O, no clock reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from streamrouter.events import Attempt, ErrorInfo, LLMResult, WorkItem
from streamrouter.llm.client import ModelReply
from streamrouter.llm.fallback import FailedCall
from streamrouter.result_blocks import result_blocks

__all__ = ["attempt_for_reply", "attempts_for_failures", "error_result", "ok_result"]


def attempt_for_reply(
    tier: str, reply: ModelReply, outcome: str, confidence: float | None = None
) -> Attempt:
    return Attempt(
        tier=tier,
        model=reply.model,
        outcome=outcome,
        input_tokens=reply.usage.input_tokens,
        output_tokens=reply.usage.output_tokens,
        cache_read_input_tokens=reply.usage.cache_read_input_tokens,
        cache_creation_input_tokens=reply.usage.cache_creation_input_tokens,
        cost_usd=reply.cost_usd,
        latency_ms=reply.latency_ms,
        confidence=confidence,
    )


def attempts_for_failures(tier: str, failures: Iterable[FailedCall]) -> list[Attempt]:
    return [Attempt(tier=tier, model=f.model, outcome=f.error.outcome) for f in failures]


def ok_result(
    work: WorkItem,
    *,
    tier: str,
    model: str,
    answer: str,
    confidence: float,
    fallback_used: bool,
    now: datetime,
    content: Iterable[Mapping[str, Any] | BaseModel] = (),
    stop_reason: str | None = None,
    stop_sequence: str | None = None,
) -> LLMResult:
    """The ok result. ``content`` is the answering model's blocks, as
    ``ModelReply.content`` holds them (the SDK blocks' dicts) or as result blocks."""
    return _result(
        work,
        now,
        status="ok",
        answer=answer,
        tier=tier,
        model=model,
        confidence=confidence,
        fallback_used=fallback_used,
        content=result_blocks(content),
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
    )


def error_result(
    work: WorkItem,
    *,
    error_type: str,
    message: str,
    now: datetime,
    content: Iterable[Mapping[str, Any] | BaseModel] = (),
    stop_reason: str | None = None,
    stop_sequence: str | None = None,
) -> LLMResult:
    """The error result; ``content`` and ``stop_reason`` may keep what the last model
    replied (an answer cut at ``max_tokens``, say)."""
    return _result(
        work,
        now,
        status="error",
        error=ErrorInfo(type=error_type, message=message),
        content=result_blocks(content),
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
    )


def _result(work: WorkItem, now: datetime, **fields: object) -> LLMResult:
    attempts = list(work.attempts)
    return LLMResult(
        request_id=work.request.request_id,
        tenant=work.request.tenant,
        route=work.route,
        escalated=any(a.outcome == "escalated" for a in attempts),
        attempts=attempts,
        total_cost_usd=sum(a.cost_usd for a in attempts),
        total_latency_ms=(now - work.received_at).total_seconds() * 1000,
        completed_at=now,
        **fields,  # type: ignore[arg-type]
    )
