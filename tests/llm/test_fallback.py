from __future__ import annotations

from collections.abc import Callable

import pytest

from streamrouter.errors import (
    ModelCallError,
    ModelFailedError,
    ModelsExhaustedError,
    OverloadedError,
    RateLimitedError,
    RequestRejectedError,
)
from streamrouter.llm.client import ModelCall, ModelReply
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.llm.fallback import ChainExhaustedError, FailedCall, call_with_fallback
from streamrouter.llm.pricing import TokenUsage

OPUS, SONNET, HAIKU = "claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5"
CHAIN = (OPUS, SONNET, HAIKU)
CALL = ModelCall(
    messages=[{"role": "user", "content": "hi"}],
    max_tokens=100,
    tool={"name": "submit_answer", "input_schema": {"type": "object"}},
)

ERRORS: dict[str, Callable[[str], ModelCallError]] = {
    "429": lambda model: RateLimitedError("rate limited", model=model),
    "529": lambda model: OverloadedError("overloaded", model=model),
    "500": lambda model: ModelFailedError("server error", model=model),
    "400": lambda model: RequestRejectedError("bad request", model=model),
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reply(model: str) -> ModelReply:
    return ModelReply(
        model=model,
        content=[{"type": "text", "text": f"from {model}"}],
        stop_reason="end_turn",
        usage=TokenUsage(input_tokens=3, output_tokens=4),
        cost_usd=0.001,
        latency_ms=12.0,
    )


class FakeGateway:
    """Fails each model with the scripted errors in turn ("429", "529", "500"), then answers."""

    def __init__(self, script: dict[str, list[str]] | None = None) -> None:
        self.script = {model: list(errors) for model, errors in (script or {}).items()}
        self.calls: list[tuple[str, ModelCall]] = []

    async def call(self, model: str, call: ModelCall) -> ModelReply:
        self.calls.append((model, call))
        errors = self.script.get(model, [])
        if errors:
            code = errors.pop(0) if len(errors) > 1 else errors[0]  # the last one repeats
            raise ERRORS[code](model)
        return reply(model)

    @property
    def models(self) -> list[str]:
        return [model for model, _ in self.calls]


def cooldowns(threshold: int = 3, cooldown_s: float = 30.0) -> tuple[Cooldowns, FakeClock]:
    clock = FakeClock()
    return Cooldowns(failure_threshold=threshold, cooldown_s=cooldown_s, clock=clock), clock


@pytest.mark.parametrize(
    ("script", "answered_by", "failed", "fallback_used"),
    [
        ({}, OPUS, [], False),
        ({OPUS: ["429"]}, SONNET, [(OPUS, "rate_limited")], True),
        ({OPUS: ["529"]}, SONNET, [(OPUS, "overloaded")], True),
        ({OPUS: ["500"]}, SONNET, [(OPUS, "failed")], True),
        (
            {OPUS: ["529"], SONNET: ["429"]},
            HAIKU,
            [(OPUS, "overloaded"), (SONNET, "rate_limited")],
            True,
        ),
        ({SONNET: ["500"], HAIKU: ["500"]}, OPUS, [], False),  # later models never called
    ],
)
async def test_fallback_order(
    script: dict[str, list[str]],
    answered_by: str,
    failed: list[tuple[str, str]],
    fallback_used: bool,
) -> None:
    gateway = FakeGateway(script)
    breakers, _ = cooldowns()
    result = await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert result.reply.model == answered_by
    assert result.fallback_used is fallback_used
    assert [(f.model, f.error.outcome) for f in result.failures] == failed
    assert all(f.error.model == f.model for f in result.failures)
    # Each model is called at most once, in chain order, with the same call.
    assert gateway.models == [*(m for m, _ in failed), answered_by]
    assert all(call is CALL for _, call in gateway.calls)


async def test_single_model_chain() -> None:
    gateway = FakeGateway()
    breakers, _ = cooldowns()
    result = await call_with_fallback(gateway, breakers, (HAIKU,), CALL)
    assert (result.reply.model, result.fallback_used, result.failures) == (HAIKU, False, ())


async def test_duplicate_model_in_chain_is_tried_once() -> None:
    gateway = FakeGateway({OPUS: ["500"]})
    breakers, _ = cooldowns()
    result = await call_with_fallback(gateway, breakers, (OPUS, OPUS, HAIKU), CALL)
    assert gateway.models == [OPUS, HAIKU]
    assert result.fallback_used is True


@pytest.mark.parametrize(
    "script",
    [
        {OPUS: ["429"], SONNET: ["529"], HAIKU: ["500"]},
        {OPUS: ["500"], SONNET: ["500"], HAIKU: ["500"]},
    ],
)
async def test_every_model_failing_exhausts_the_chain(script: dict[str, list[str]]) -> None:
    gateway = FakeGateway(script)
    breakers, _ = cooldowns()
    with pytest.raises(ChainExhaustedError) as info:
        await call_with_fallback(gateway, breakers, CHAIN, CALL)
    error = info.value
    assert isinstance(error, ModelsExhaustedError)
    assert error.error_type == "models_exhausted"
    assert [f.model for f in error.failures] == list(CHAIN)
    assert all(isinstance(f, FailedCall) for f in error.failures)
    assert [type(f.error) for f in error.failures] == [type(ERRORS[script[m][0]](m)) for m in CHAIN]
    for model in CHAIN:
        assert model in str(error)
    assert gateway.models == list(CHAIN)


async def test_repeated_failures_put_a_model_in_cooldown() -> None:
    gateway = FakeGateway({OPUS: ["529"]})  # opus is overloaded for good
    breakers, clock = cooldowns(threshold=2, cooldown_s=30.0)

    for _ in range(2):  # two failures open opus's breaker
        result = await call_with_fallback(gateway, breakers, CHAIN, CALL)
        assert result.reply.model == SONNET
        assert [f.model for f in result.failures] == [OPUS]
    assert gateway.models == [OPUS, SONNET, OPUS, SONNET]
    assert not breakers.available(OPUS)

    gateway.calls.clear()
    result = await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert gateway.models == [SONNET]  # opus skipped while it cools down
    assert result.reply.model == SONNET
    assert result.fallback_used is True  # the answer is still not from the first model
    assert result.failures == ()

    # After the cooldown opus gets one trial; it answers, and its breaker closes.
    clock.now += 30.0
    gateway.script[OPUS] = []
    gateway.calls.clear()
    result = await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert gateway.models == [OPUS]
    assert result.fallback_used is False
    assert breakers.state(OPUS) == "closed"


async def test_failed_trial_after_cooldown_reopens_the_breaker() -> None:
    gateway = FakeGateway({OPUS: ["500"]})
    breakers, clock = cooldowns(threshold=1, cooldown_s=10.0)
    await call_with_fallback(gateway, breakers, CHAIN, CALL)
    clock.now += 10.0
    gateway.calls.clear()
    result = await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert gateway.models == [OPUS, SONNET]  # the trial
    assert [f.model for f in result.failures] == [OPUS]
    assert breakers.state(OPUS) == "open"


async def test_success_resets_the_failure_count() -> None:
    gateway = FakeGateway({OPUS: ["500"]})
    breakers, _ = cooldowns(threshold=2)
    await call_with_fallback(gateway, breakers, CHAIN, CALL)  # opus: 1 failure
    gateway.script[OPUS] = []
    await call_with_fallback(gateway, breakers, CHAIN, CALL)  # opus answers: reset
    gateway.script[OPUS] = ["500"]
    result = await call_with_fallback(gateway, breakers, CHAIN, CALL)  # opus: 1 failure again
    assert [f.model for f in result.failures] == [OPUS]
    assert breakers.state(OPUS) == "closed"
    await call_with_fallback(gateway, breakers, CHAIN, CALL)  # 2 in a row: now it opens
    assert breakers.state(OPUS) == "open"


async def test_all_models_cooling_down_raises_without_calls() -> None:
    gateway = FakeGateway()
    breakers, _ = cooldowns(threshold=1)
    for model in CHAIN:
        breakers.record_failure(model)
    with pytest.raises(ChainExhaustedError) as info:
        await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert gateway.calls == []
    assert info.value.failures == ()
    assert "tried: none" in str(info.value)
    for model in CHAIN:
        assert model in str(info.value)


async def test_cooling_models_are_named_when_the_rest_fail() -> None:
    gateway = FakeGateway({SONNET: ["429"], HAIKU: ["429"]})
    breakers, _ = cooldowns(threshold=1)
    breakers.record_failure(OPUS)
    with pytest.raises(ChainExhaustedError) as info:
        await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert gateway.models == [SONNET, HAIKU]
    assert [f.model for f in info.value.failures] == [SONNET, HAIKU]
    assert f"cooling down: ['{OPUS}'" in str(info.value)


async def test_empty_chain_raises() -> None:
    breakers, _ = cooldowns()
    with pytest.raises(ChainExhaustedError):
        await call_with_fallback(FakeGateway(), breakers, (), CALL)


async def test_unexpected_errors_are_not_swallowed() -> None:
    class Broken:
        async def call(self, model: str, call: ModelCall) -> ModelReply:
            raise RuntimeError("bug")

    breakers, _ = cooldowns(threshold=1)
    with pytest.raises(RuntimeError, match="bug"):
        await call_with_fallback(Broken(), breakers, CHAIN, CALL)  # type: ignore[arg-type]
    assert breakers.available(OPUS)  # a bug is not a model failure


async def test_a_rejected_request_stops_the_chain_without_cooldown() -> None:
    breaker, _ = cooldowns(threshold=1)
    gateway = FakeGateway({OPUS: ["400"]})

    with pytest.raises(ChainExhaustedError) as caught:
        await call_with_fallback(gateway, breaker, CHAIN, CALL)  # type: ignore[arg-type]

    assert gateway.models == [OPUS]
    assert caught.value.error_type == "request_rejected"
    assert [f.error.outcome for f in caught.value.failures] == ["failed"]
    assert breaker.available(OPUS)
