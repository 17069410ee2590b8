from __future__ import annotations

import pytest

from streamrouter.llm.cooldown import Cooldowns, plan_chain


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cooldowns(clock: FakeClock) -> Cooldowns:
    return Cooldowns(failure_threshold=3, cooldown_s=30.0, clock=clock)


def fail(cooldowns: Cooldowns, model: str, times: int) -> None:
    for _ in range(times):
        cooldowns.record_failure(model)


def test_unknown_model_is_available(cooldowns: Cooldowns) -> None:
    assert cooldowns.available("m")
    assert cooldowns.state("m") == "closed"


def test_closed_open_half_open_closed(cooldowns: Cooldowns, clock: FakeClock) -> None:
    fail(cooldowns, "m", 2)
    assert cooldowns.state("m") == "closed"
    assert cooldowns.available("m")

    cooldowns.record_failure("m")
    assert cooldowns.state("m") == "open"
    assert not cooldowns.available("m")

    clock.advance(29.9)
    assert not cooldowns.available("m")

    clock.advance(0.1)
    assert cooldowns.state("m") == "half_open"
    assert cooldowns.available("m")

    cooldowns.record_attempt("m")
    assert not cooldowns.available("m")  # one trial at a time

    cooldowns.record_success("m")
    assert cooldowns.state("m") == "closed"
    assert cooldowns.available("m")

    fail(cooldowns, "m", 2)  # the count restarted
    assert cooldowns.available("m")


def test_half_open_failure_reopens(cooldowns: Cooldowns, clock: FakeClock) -> None:
    fail(cooldowns, "m", 3)
    clock.advance(30)
    cooldowns.record_attempt("m")
    cooldowns.record_failure("m")  # one failure is enough in half-open
    assert cooldowns.state("m") == "open"
    clock.advance(29)
    assert not cooldowns.available("m")
    clock.advance(1)
    assert cooldowns.available("m")


def test_success_resets_consecutive_failures(cooldowns: Cooldowns) -> None:
    fail(cooldowns, "m", 2)
    cooldowns.record_success("m")
    fail(cooldowns, "m", 2)
    assert cooldowns.available("m")


def test_failure_while_open_does_not_extend(cooldowns: Cooldowns, clock: FakeClock) -> None:
    fail(cooldowns, "m", 3)
    clock.advance(20)
    cooldowns.record_failure("m")  # a late report from a call started earlier
    clock.advance(10)
    assert cooldowns.available("m")


def test_stale_trial_frees_the_slot(cooldowns: Cooldowns, clock: FakeClock) -> None:
    fail(cooldowns, "m", 3)
    clock.advance(30)
    cooldowns.record_attempt("m")
    clock.advance(29)
    assert not cooldowns.available("m")
    clock.advance(1)
    assert cooldowns.available("m")


def test_half_open_without_record_attempt(cooldowns: Cooldowns, clock: FakeClock) -> None:
    fail(cooldowns, "m", 3)
    clock.advance(30)
    assert cooldowns.available("m")
    assert cooldowns.available("m")  # available() is a query, it changes nothing


def test_record_attempt_when_closed_changes_nothing(cooldowns: Cooldowns) -> None:
    cooldowns.record_attempt("m")
    assert cooldowns.available("m")


def test_models_are_independent(cooldowns: Cooldowns) -> None:
    fail(cooldowns, "a", 3)
    assert not cooldowns.available("a")
    assert cooldowns.available("b")


def test_threshold_one_and_zero_cooldown(clock: FakeClock) -> None:
    cooldowns = Cooldowns(failure_threshold=1, cooldown_s=0, clock=clock)
    cooldowns.record_failure("m")
    assert cooldowns.state("m") == "half_open"
    assert cooldowns.available("m")


@pytest.mark.parametrize(("threshold", "cooldown_s"), [(0, 30.0), (-1, 30.0), (3, -1.0)])
def test_invalid_settings(threshold: int, cooldown_s: float) -> None:
    with pytest.raises(ValueError):
        Cooldowns(failure_threshold=threshold, cooldown_s=cooldown_s)


@pytest.mark.parametrize(
    ("chain", "cooling", "planned"),
    [
        (["opus", "sonnet", "haiku"], [], ["opus", "sonnet", "haiku"]),
        (["opus", "sonnet", "haiku"], ["opus"], ["sonnet", "haiku"]),
        (["opus", "sonnet", "haiku"], ["sonnet"], ["opus", "haiku"]),
        (["opus", "sonnet", "haiku"], ["opus", "sonnet", "haiku"], []),
        (["opus", "opus", "haiku"], [], ["opus", "haiku"]),
        ([], [], []),
    ],
)
def test_plan_chain(
    cooldowns: Cooldowns, chain: list[str], cooling: list[str], planned: list[str]
) -> None:
    for model in cooling:
        fail(cooldowns, model, 3)
    assert plan_chain(chain, cooldowns) == planned


def test_plan_chain_includes_half_open(cooldowns: Cooldowns, clock: FakeClock) -> None:
    fail(cooldowns, "opus", 3)
    clock.advance(30)
    assert plan_chain(("opus", "sonnet"), cooldowns) == ["opus", "sonnet"]
