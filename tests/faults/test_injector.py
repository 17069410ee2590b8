"""The simulator's fault injection (``streamrouter.sim.faults``): pure, and over HTTP.

Fast: no broker, no worker. Not marked ``faults`` (those are the slow end-to-end ones).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import get_args

import anthropic
import pytest

from streamrouter.errors import ConfigError
from streamrouter.sim import Scenario, SimServer
from streamrouter.sim.faults import FaultInjector, FaultKind, Faults
from streamrouter.sim.scenario import ErrorKind

ALL_KINDS = ("rate_limited", "overloaded", "server_error", "timeout")


def draws(injector: FaultInjector, calls: list[tuple[str, str]]) -> list[str | None]:
    return [injector.draw(model, text) for model, text in calls]


def test_fault_kinds_are_the_scenario_error_kinds() -> None:
    assert get_args(FaultKind) == get_args(ErrorKind)


def test_the_rate_and_the_kinds_are_as_configured() -> None:
    injector = FaultInjector(Faults(rate=0.3, seed=1))
    outcomes = draws(injector, [("claude-haiku-4-5", f"prompt {n}") for n in range(4000)])
    failed = [o for o in outcomes if o is not None]
    assert 0.27 < len(failed) / len(outcomes) < 0.33
    assert set(Counter(failed)) == set(ALL_KINDS)
    assert min(Counter(failed).values()) > len(failed) / 4 * 0.8


def test_the_same_seed_gives_the_same_faults_whatever_the_order_of_calls() -> None:
    calls = [
        (m, f"prompt {n}") for n in range(300) for m in ("claude-haiku-4-5", "claude-opus-4-7")
    ]
    in_order = dict(zip(calls, draws(FaultInjector(Faults(rate=0.3, seed=7)), calls), strict=True))
    shuffled = calls[:]
    random.Random(3).shuffle(shuffled)
    again = dict(
        zip(shuffled, draws(FaultInjector(Faults(rate=0.3, seed=7)), shuffled), strict=True)
    )
    other_seed = draws(FaultInjector(Faults(rate=0.3, seed=8)), calls)
    assert again == in_order
    assert other_seed != list(in_order.values())


def test_a_retry_of_the_same_call_draws_again() -> None:
    injector = FaultInjector(Faults(rate=0.5, seed=1))
    retries = [injector.draw("claude-haiku-4-5", "the same prompt") for _ in range(200)]
    assert None in retries and any(r is not None for r in retries)
    injector.reset()
    assert [injector.draw("claude-haiku-4-5", "the same prompt") for _ in range(200)] == retries


def test_match_and_model_limit_which_calls_may_fail() -> None:
    faults = Faults(rate=1.0, kinds=("overloaded",), match="FAULTY", model="claude-opus-*")
    injector = FaultInjector(faults)
    assert injector.draw("claude-opus-4-7", "a FAULTY one") == "overloaded"
    assert injector.draw("claude-opus-4-7", "a fine one") is None
    assert injector.draw("claude-haiku-4-5", "a FAULTY one") is None
    assert FaultInjector(None).draw("claude-opus-4-7", "FAULTY") is None
    assert FaultInjector(Faults(rate=0)).draw("claude-opus-4-7", "FAULTY") is None


@pytest.mark.parametrize(
    ("faults", "problem"),
    [
        ({"rate": 1.5}, "faults.rate"),
        ({"rate": 0.3, "kinds": []}, "faults.kinds"),
        ({"rate": 0.3, "kinds": ["teapot"]}, "faults.kinds"),
        ({"rate": 0.3, "match": "("}, "faults.match"),
        ({"rate": 0.3, "bogus": 1}, "faults.bogus: unknown key"),
    ],
)
def test_a_bad_faults_key_is_a_config_error_naming_the_field(
    faults: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        Scenario.from_data({"faults": faults})


def test_the_scenario_reads_the_faults_key() -> None:
    scenario = Scenario.from_data(
        {"faults": {"rate": 0.3, "kinds": ALL_KINDS, "retry_after": 0.2, "seed": 1}}
    )
    assert scenario.faults == Faults(rate=0.3, kinds=ALL_KINDS, retry_after=0.2, seed=1)
    assert Scenario().faults is None


async def test_over_http_faults_come_before_rules_with_the_real_status_and_retry_after() -> None:
    scenario = Scenario.from_data(
        {
            "faults": {"rate": 1.0, "kinds": ["rate_limited"], "retry_after": 0.25, "match": "X"},
            "rules": [{"match": "X", "answer": "never", "confidence": 0.9}],
        }
    )
    async with SimServer(scenario) as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-sim", max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=64,
                messages=[{"role": "user", "content": "X marks the spot"}],
            )
        answered = await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": "no marker"}],
        )
        await client.close()
        calls = sim.calls
    assert caught.value.response.headers["retry-after"] == "0.25"
    assert answered.content
    assert [c["status"] for c in calls] == [429, 200]
    assert all(isinstance(c["at"], float) for c in calls)
