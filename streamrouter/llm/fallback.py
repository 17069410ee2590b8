"""The fallback chain: try each available model of a tier's chain until one answers.

A model that keeps failing is put in cooldown (:class:`Cooldowns`) and skipped until
it may be tried again. Every failed call is kept as an attempt, so the result shows
what happened; when no model answers, :class:`ModelsExhaustedError` carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamrouter.errors import ModelCallError, ModelsExhaustedError, RequestRejectedError
from streamrouter.llm.client import ModelCall, ModelGateway, ModelReply
from streamrouter.llm.cooldown import Cooldowns, plan_chain

__all__ = ["ChainExhaustedError", "FailedCall", "FallbackReply", "call_with_fallback"]


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
    gateway: ModelGateway, cooldowns: Cooldowns, chain: Sequence[str], call: ModelCall
) -> FallbackReply:
    failures: list[FailedCall] = []
    for model in plan_chain(chain, cooldowns):
        cooldowns.record_attempt(model)
        try:
            reply = await gateway.call(model, call)
        except RequestRejectedError as exc:
            cooldowns.record_success(model)  # the model answered; the request was at fault
            failures.append(FailedCall(model, exc))
            raise ChainExhaustedError(str(exc), tuple(failures), error_type=exc.error_type) from exc
        except ModelCallError as exc:
            cooldowns.record_failure(model)
            failures.append(FailedCall(model, exc))
            continue
        cooldowns.record_success(model)
        return FallbackReply(reply, tuple(failures), fallback_used=model != chain[0])
    tried = ", ".join(f"{f.model} ({f.error.error_type})" for f in failures) or "none"
    cooling = [m for m in chain if not cooldowns.available(m)]
    raise ChainExhaustedError(
        f"no model of {list(chain)} answered; tried: {tried}; cooling down: {cooling}",
        tuple(failures),
    )
