from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from streamrouter.errors import (
    ModelCallError,
    ModelFailedError,
    ModelsExhaustedError,
    ModelTimeoutError,
    OverloadedError,
    RateLimitedError,
    RequestRejectedError,
)
from streamrouter.llm.client import ModelCall, ModelReply
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.llm.fallback import (
    ChainExhaustedError,
    FailedCall,
    call_with_fallback,
    exhausted_error,
)
from streamrouter.llm.pricing import TokenUsage
from streamrouter.llm.retry import RetryPolicy

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
    "timeout": lambda model: ModelTimeoutError("no answer", model=model),
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

    retry = RetryPolicy(max_retries=2, attempt_timeout_s=60.0, budget_s=90.0)

    def __init__(self, script: dict[str, list[str]] | None = None) -> None:
        self.script = {model: list(errors) for model, errors in (script or {}).items()}
        self.calls: list[tuple[str, ModelCall]] = []
        self.deadlines: list[float] = []

    async def call(self, model: str, call: ModelCall, deadline: float) -> ModelReply:
        self.calls.append((model, call))
        self.deadlines.append(deadline)
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
        retry = FakeGateway.retry

        async def call(self, model: str, call: ModelCall, deadline: float) -> ModelReply:
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


# The time budget


class SilentGateway(FakeGateway):
    """The models in ``silent`` say nothing until the deadline, then time out."""

    def __init__(
        self, silent: set[str], budget_s: float, script: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(script)
        self.silent = silent
        self.retry = replace(FakeGateway.retry, budget_s=budget_s)

    async def call(self, model: str, call: ModelCall, deadline: float) -> ModelReply:
        if model not in self.silent:
            return await super().call(model, call, deadline)
        self.calls.append((model, call))
        await asyncio.sleep(deadline - time.monotonic())
        raise ModelTimeoutError("no answer", model=model)


async def test_every_call_of_the_chain_shares_one_deadline() -> None:
    gateway = FakeGateway({OPUS: ["timeout"], SONNET: ["500"]})
    breakers, _ = cooldowns()
    started = time.monotonic()
    await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert len(set(gateway.deadlines)) == 1
    assert gateway.deadlines[0] == pytest.approx(started + 90.0, abs=0.5)


async def test_a_timeout_with_budget_left_falls_back() -> None:
    gateway = FakeGateway({OPUS: ["timeout"]})
    breakers, _ = cooldowns(threshold=1)
    result = await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert result.reply.model == SONNET
    assert result.fallback_used is True
    assert [(f.model, f.error.error_type, f.error.outcome) for f in result.failures] == [
        (OPUS, "timeout", "failed")
    ]
    assert breakers.state(OPUS) == "open"  # a timeout counts as a failure for the breaker


async def test_timeouts_with_budget_left_exhaust_the_chain_as_before() -> None:
    gateway = FakeGateway({model: ["timeout"] for model in CHAIN})
    breakers, _ = cooldowns()
    with pytest.raises(ChainExhaustedError) as info:
        await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert info.value.error_type == "models_exhausted"
    assert gateway.models == list(CHAIN)


async def test_a_chain_that_runs_out_of_budget_ends_in_a_timeout() -> None:
    gateway = SilentGateway({OPUS}, budget_s=0.2)
    breakers, _ = cooldowns(threshold=1)
    started = time.monotonic()
    with pytest.raises(ChainExhaustedError) as info:
        await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert 0.2 <= time.monotonic() - started < 1.0
    error = info.value
    assert isinstance(error, ModelsExhaustedError)
    assert error.error_type == "timeout"
    assert "within the 0.2 s time budget" in str(error)
    assert gateway.models == [OPUS]  # no model is started after the budget ran out
    assert [(f.model, f.error.outcome) for f in error.failures] == [(OPUS, "failed")]
    assert breakers.state(OPUS) == "open"


async def test_a_silent_fallback_ends_the_chain_at_the_budget() -> None:
    gateway = SilentGateway({SONNET}, budget_s=0.2, script={OPUS: ["timeout"]})
    breakers, _ = cooldowns()
    with pytest.raises(ChainExhaustedError) as info:
        await call_with_fallback(gateway, breakers, CHAIN, CALL)
    assert info.value.error_type == "timeout"
    assert gateway.models == [OPUS, SONNET]


@pytest.mark.parametrize(
    ("spent_budget_s", "error_type", "head"),
    [
        (None, "models_exhausted", f"no model of {list(CHAIN)} answered; "),
        (90.0, "timeout", f"no model of {list(CHAIN)} answered within the 90 s time budget; "),
    ],
)
def test_exhausted_error(spent_budget_s: float | None, error_type: str, head: str) -> None:
    failures = (
        FailedCall(OPUS, ERRORS["timeout"](OPUS)),
        FailedCall(SONNET, ERRORS["529"](SONNET)),
    )
    error = exhausted_error(CHAIN, failures, [HAIKU], spent_budget_s)
    assert error.error_type == error_type
    assert error.failures == failures
    assert str(error) == (
        f"{head}tried: {OPUS} (timeout), {SONNET} (overloaded); cooling down: ['{HAIKU}']"
    )
