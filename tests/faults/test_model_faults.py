"""The model API misbehaves: the simulator fails 30% of all calls (429 with retry-after,
529, 500, timeouts) across every model, for 500 requests of every route. Every request
ends in exactly one result; every model call the simulator answered is in a result;
retries wait as long as ``retry-after`` asks, and a timeout is not retried on the same
model; fallbacks follow the configured chains; and a model that keeps failing is skipped
for the cooldown, then tried again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from streamrouter.client import StreamClient
from streamrouter.config import Policy
from streamrouter.events import LLMRequest, LLMResult

from .conftest import (
    TOPICS,
    Follower,
    Outcome,
    calls_by_request,
    new_request,
    send_all,
    start_stack,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

REQUESTS = 500
RETRY_AFTER_S = 0.2
MAX_RETRIES = 2
COOLDOWN_FAILURES = 3
COOLDOWN_S = 3.0
SCENARIO = f"""
latency_ms: {{mean: 10, jitter: 5}}
faults:
  rate: 0.3
  kinds: [rate_limited, overloaded, server_error, timeout]
  retry_after: {RETRY_AFTER_S}
  seed: 1
  match: "FAULT-30"
rules:
  - match: "FAULT-30-ESC"
    model: "claude-haiku-*"
    confidence: 0.3
  - match: "FAULT-DOWN"
    model: "claude-opus-*"
    error: overloaded
    retry_after: 0.05
  - match: "FAULT-"
    complexity: medium
    confidence: 0.95
"""
ENV = {
    "STREAMROUTER_MODEL_MAX_RETRIES": str(MAX_RETRIES),
    "STREAMROUTER_MODEL_TIMEOUT_S": "2",
    "STREAMROUTER_COOLDOWN_FAILURES": str(COOLDOWN_FAILURES),
    "STREAMROUTER_COOLDOWN_S": str(COOLDOWN_S),
}
RESULT_TIMEOUT_S = 180.0
SUCCESS = {"classified", "answered", "escalated"}
CHAINS = {tier.name: tier.chain for tier in Policy().tiers}


def faulty_request(n: int) -> LLMRequest:
    """Every route: classifier, task map (haiku, sonnet, opus), pinned, escalation."""
    match n % 6:
        case 0:
            return new_request("FAULT-30")
        case 1:
            return new_request("FAULT-30", task_type="summarize")
        case 2:
            return new_request("FAULT-30", task_type="fix_failing_test")
        case 3:
            return new_request("FAULT-30", task_type="code_review")
        case 4:
            return new_request("FAULT-30", tier="opus")
        case _:
            return new_request("FAULT-30-ESC", task_type="summarize")


async def run_faults(directory: Path) -> Outcome:
    stack = await asyncio.to_thread(start_stack, directory, SCENARIO, **ENV)
    try:
        async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
            ids = await send_all(client, [faulty_request(n) for n in range(REQUESTS)])
            await follower.settle(ids, RESULT_TIMEOUT_S, 0)
            # Cooldown: opus always fails for these. One at a time, so the breaker's
            # count is exact: 3 failures open it, the 4th request skips opus, and once
            # the cooldown is over the 5th tries it again. First let any breaker the
            # faults opened cool down, and close opus's with a success.
            await asyncio.sleep(COOLDOWN_S)
            reset = await send_all(client, [new_request("FAULT-RESET", tier="opus")])
            await follower.wait_for_results(reset, 60)
            down: list[str] = []
            for n in range(5):
                if n == 4:
                    await asyncio.sleep(COOLDOWN_S)
                request = new_request("FAULT-DOWN", tier="opus")
                down += await send_all(client, [request])
                await follower.wait_for_results(down, 60)
            await asyncio.sleep(2)
            return Outcome.capture(stack, follower, ids + down, faulty=ids, down=down)
    finally:
        await asyncio.to_thread(stack.stop)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return asyncio.run(run_faults(tmp_path_factory.mktemp("model-faults")))


def test_faults_were_injected_at_about_the_configured_rate(faults: Outcome) -> None:
    calls = calls_by_request(faults.calls, faults.notes["faulty"])
    made = [c for per_request in calls.values() for c in per_request]
    failed = [c for c in made if c["status"] != 200]
    assert len(made) >= REQUESTS * 1.5
    assert 0.25 <= len(failed) / len(made) <= 0.35
    assert {c["status"] for c in failed} == {429, 529, 500, None}  # None: a timeout


def test_every_request_ends_in_exactly_one_result(faults: Outcome) -> None:
    assert faults.exactly_once_problems() == {}
    errors = {r[0].error.type for r in faults.results.values() if r[0].error is not None}
    assert errors <= {"models_exhausted"}


def test_every_answered_model_call_is_accounted_for_in_a_result(faults: Outcome) -> None:
    """No paid call goes missing: the simulator's 200s per request equal the result's
    successful attempts, and each failed attempt is one timeout or the last of a model's
    MAX_RETRIES + 1 tries."""
    problems = {}
    for rid, calls in calls_by_request(faults.calls, faults.notes["faulty"]).items():
        result = faults.results[rid][0]
        answered = sum(c["status"] == 200 for c in calls)
        succeeded = sum(a.outcome in SUCCESS for a in result.attempts)
        failed_attempts = sum(a.outcome not in SUCCESS for a in result.attempts)
        # A timeout is not retried on the same model (a silent model would hold the request
        # for every try; the next model is tried at once), so each timeout call (status
        # None) ends a failed attempt by itself; a timeout retried on the same model would
        # make more timeouts than failed attempts. Every other failed attempt took
        # MAX_RETRIES + 1 calls answered 429, 529 or 500.
        timeouts = sum(c["status"] is None for c in calls)
        error_calls = sum(c["status"] not in (200, None) for c in calls)
        if (
            answered != succeeded
            or timeouts > failed_attempts
            or error_calls < (failed_attempts - timeouts) * (MAX_RETRIES + 1)
        ):
            problems[rid] = (answered, succeeded, timeouts, error_calls, failed_attempts)
    assert problems == {}


def test_retries_wait_at_least_retry_after(faults: Outcome) -> None:
    """A retry (the call the gateway numbers one higher) comes ``retry-after`` after the
    429 or 529 before it. The same model may be called again sooner as a new attempt: the
    next tier's chain can hold the model whose retries just ran out."""
    waits, too_soon = [], []
    for calls in calls_by_request(faults.calls, faults.notes["faulty"]).values():
        for model_kind in {(c["model"], c["kind"]) for c in calls}:
            same = [c for c in calls if (c["model"], c["kind"]) == model_kind]
            for before, after in pairwise(same):
                if before["status"] not in (429, 529) or after["retry"] != before["retry"] + 1:
                    continue
                gap = float(after["at"]) - float(before["at"])
                waits.append(gap)
                if gap < RETRY_AFTER_S * 0.95:
                    too_soon.append((model_kind, before["status"], round(gap, 3)))
    assert len(waits) >= 50
    assert too_soon == []


def fallback_problems(result: LLMResult) -> list[str]:
    """Within one tier, a failed model is followed by a later model of the tier's chain."""
    problems = []
    for before, after in pairwise(result.attempts):
        if before.outcome in SUCCESS or after.tier != before.tier:
            continue
        chain = CHAINS[before.tier]
        if chain.index(after.model) <= chain.index(before.model):
            problems.append(f"{before.tier}: {before.model} failed, then {after.model}")
    if result.status == "ok" and result.fallback_used:
        assert result.tier is not None
        if result.model == CHAINS[result.tier][0]:
            problems.append("fallback_used, but the tier's first model answered")
    return problems


def test_fallbacks_follow_the_configured_chains(faults: Outcome) -> None:
    results = [faults.results[rid][0] for rid in faults.notes["faulty"]]
    assert {r.request_id: p for r in results if (p := fallback_problems(r))} == {}
    assert sum(r.fallback_used for r in results) > 0


def opus_calls(faults: Outcome, request_id: str) -> list[Mapping[str, Any]]:
    return [c for c in faults.calls_for(request_id) if str(c["model"]).startswith("claude-opus")]


def test_a_failing_model_cools_down_then_is_tried_again(faults: Outcome) -> None:
    down = faults.notes["down"]
    outcomes = [[(a.model, a.outcome) for a in faults.results[rid][0].attempts] for rid in down]
    tried = [("claude-opus-4-7", "overloaded"), ("claude-sonnet-4-6", "answered")]
    skipped = [("claude-sonnet-4-6", "answered")]
    assert outcomes == [tried, tried, tried, skipped, tried]
    assert [len(opus_calls(faults, rid)) for rid in down] == [MAX_RETRIES + 1] * 3 + [0] + [
        MAX_RETRIES + 1
    ]
    assert all(faults.results[rid][0].fallback_used for rid in down)
