"""The fallback chain: try each available model of a tier's chain until one answers.

A model that keeps failing is put in cooldown (:class:`Cooldowns`) and skipped until
it may be tried again. Every failed call is kept as an attempt, so the result shows
what happened; when no model answers, :class:`ChainExhaustedError` carries them.

The chain has a time budget (``RetryPolicy.budget_s``) from its start: every call and
retry must end by then, and no model is tried after it; a chain that ran out of it ends
with error type ``timeout``. Time spent waiting in topics before the chain starts does
not count, so a backlog after a restart is served, not timed out.

Each call is a GenAI client span; ``assess`` (how confident the reply is) runs while
that span is open, so the span carries the confidence along with tokens and cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.trace import Span, Status, StatusCode

from streamrouter.errors import (
    ModelCallError,
    ModelsExhaustedError,
    ModelTimeoutError,
    RequestRejectedError,
)
from streamrouter.llm.client import ModelCall, ModelGateway, ModelReply
from streamrouter.llm.cooldown import Cooldowns, plan_chain
from streamrouter.telemetry.tracing import model_call_span, record_event

__all__ = [
    "ChainExhaustedError",
    "FailedCall",
    "FallbackReply",
    "call_with_fallback",
    "exhausted_error",
]

Assess = Callable[[ModelReply], float | None]


@dataclass(frozen=True)
class FailedCall:
    model: str
    error: ModelCallError


@dataclass(frozen=True)
class FallbackReply:
    reply: ModelReply
    failures: tuple[FailedCall, ...]
    # True when the answer did not come from the chain's first model.
    fallback_used: bool
    confidence: float | None = None


class ChainExhaustedError(ModelsExhaustedError):
    """No answer from the chain; ``failures`` says what each tried model did."""

    def __init__(
        self,
        message: str,
        failures: tuple[FailedCall, ...],
        error_type: str = ModelsExhaustedError.error_type,
    ) -> None:
        super().__init__(message)
        self.failures = failures
        self.error_type = error_type


async def call_with_fallback(
    gateway: ModelGateway,
    cooldowns: Cooldowns,
    chain: Sequence[str],
    call: ModelCall,
    assess: Assess | None = None,
) -> FallbackReply:
    budget_s = gateway.retry.budget_s
    deadline = time.monotonic() + budget_s
    failures: list[FailedCall] = []
    for model in plan_chain(chain, cooldowns):
        if time.monotonic() >= deadline:
            break
        cooldowns.record_attempt(model)
        with model_call_span(model, call.max_tokens) as span:
            try:
                reply = await gateway.call(model, call, deadline)
            except RequestRejectedError as exc:
                cooldowns.record_success(model)  # the model answered; the request was at fault
                failures.append(FailedCall(model, exc))
                raise ChainExhaustedError(
                    str(exc), tuple(failures), error_type=exc.error_type
                ) from exc
            except ModelCallError as exc:
                cooldowns.record_failure(model)
                failures.append(FailedCall(model, exc))
                _record_failure(span, exc)
                continue
            confidence = assess(reply) if assess else None
            _record_reply(span, reply, confidence)
        cooldowns.record_success(model)
        return FallbackReply(
            reply, tuple(failures), fallback_used=model != chain[0], confidence=confidence
        )
    cooling = [m for m in chain if not cooldowns.available(m)]
    spent = time.monotonic() >= deadline
    raise exhausted_error(chain, tuple(failures), cooling, budget_s if spent else None)


def exhausted_error(
    chain: Sequence[str],
    failures: tuple[FailedCall, ...],
    cooling: Sequence[str],
    spent_budget_s: float | None,
) -> ChainExhaustedError:
    """Why no model answered. ``spent_budget_s``: the budget, when it ran out (then the
    error type is ``timeout``, whatever the models did in it)."""
    tried = ", ".join(f"{f.model} ({f.error.error_type})" for f in failures) or "none"
    if spent_budget_s is None:
        head, error_type = f"no model of {list(chain)} answered", ModelsExhaustedError.error_type
    else:
        head = f"no model of {list(chain)} answered within the {spent_budget_s:g} s time budget"
        error_type = ModelTimeoutError.error_type
    return ChainExhaustedError(
        f"{head}; tried: {tried}; cooling down: {list(cooling)}", failures, error_type
    )


def _record_reply(span: Span, reply: ModelReply, confidence: float | None) -> None:
    usage = reply.usage
    span.set_attributes(
        {
            "gen_ai.response.model": reply.model,
            "gen_ai.response.finish_reasons": [reply.stop_reason or ""],
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cache_read_input_tokens,
            "gen_ai.usage.cache_creation.input_tokens": usage.cache_creation_input_tokens,
            "streamrouter.cost_usd": reply.cost_usd,
        }
    )
    if confidence is not None:
        span.set_attribute("streamrouter.confidence", confidence)


def _record_failure(span: Span, exc: ModelCallError) -> None:
    span.record_exception(exc)
    span.set_attribute("error.type", exc.error_type)
    span.set_status(Status(StatusCode.ERROR, exc.error_type))
    record_event("fallback", {"gen_ai.request.model": exc.model, "error.type": exc.error_type})
