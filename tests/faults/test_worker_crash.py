"""A worker dies (SIGKILL) or is stopped (SIGTERM) with requests in flight, and another
takes over: every request ends in exactly one result, and no request that had finished is
sent to a model again.

Each scenario runs once (a module fixture) and several tests check what it left behind.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from streamrouter.client import StreamClient
from streamrouter.embedded.stack import EmbeddedStack

from .conftest import (
    MIXED_RULES,
    PARTITIONS,
    TOPICS,
    Follower,
    Outcome,
    id_on_partition,
    mixed_request,
    new_request,
    send_all,
    send_steadily,
    sim_calls,
    start_stack,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

# A classifier call that takes 8 s holds back its partition's commits (Faust commits only
# up to the first un-acked offset), as one slow model call does in production.
CRASH_SCENARIO = (
    """
latency_ms: {mean: 300, jitter: 200}
rules:
  - match: "FAULT-STUCK"
    model: "claude-haiku-*"
    complexity: medium
    latency_ms: 8000
"""
    + MIXED_RULES
)
RESULT_TIMEOUT_S = 60.0
SETTLE_S = 3.0  # after the last result: time for a duplicate to show up


async def run_sigkill(directory: Path) -> Outcome:
    """Steady traffic; SIGKILL the worker once results flow; start another; drain."""
    stack = await asyncio.to_thread(start_stack, directory, CRASH_SCENARIO)
    try:
        async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
            tag = f"fault-stuck-{uuid.uuid4().hex[:6]}"
            stuck = [new_request("FAULT-STUCK", id_on_partition(p, tag)) for p in range(PARTITIONS)]
            sent = await send_all(client, stuck)
            stop = asyncio.Event()
            sender = asyncio.create_task(send_steadily(client, mixed_request, 40, stop, sent))
            await follower.wait_for(lambda: len(follower.results) >= 40, 60, "40 results")
            finished_before = len(follower.results)
            killed_at = time.time()
            await asyncio.to_thread(stack.workers[0].kill)
            await asyncio.to_thread(stack.start_worker)
            recovered_in = time.time() - killed_at
            await asyncio.sleep(2)
            stop.set()
            await sender
            await follower.settle(sent, RESULT_TIMEOUT_S, SETTLE_S)
            return Outcome.capture(
                stack,
                follower,
                sent,
                killed_at=killed_at,
                finished_before=finished_before,
                recovered_in=recovered_in,
            )
    finally:
        await asyncio.to_thread(stack.stop)


@pytest.fixture(scope="module")
def sigkill(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return asyncio.run(run_sigkill(tmp_path_factory.mktemp("sigkill")))


def test_sigkill_happened_with_requests_in_flight(sigkill: Outcome) -> None:
    killed_at = sigkill.notes["killed_at"]
    in_flight = [c for c in sigkill.calls if killed_at - 0.5 < float(c["at"]) <= killed_at]
    assert in_flight, "no model call started in the half second before the kill"
    assert sigkill.notes["finished_before"] < len(sigkill.request_ids)


def test_after_sigkill_every_request_has_exactly_one_result(sigkill: Outcome) -> None:
    assert sigkill.exactly_once_problems() == {}
    assert all(r[0].status == "ok" for r in sigkill.results.values())


def test_after_sigkill_no_finished_request_is_sent_to_a_model_again(sigkill: Outcome) -> None:
    assert sigkill.calls_after_finish() == {}


# -- SIGTERM: drain ------------------------------------------------------------------

DRAIN_TIMEOUT_S = 3.0
SHORT_CALL_S = 1.0  # ends well within the drain timeout
LONG_CALL_S = 8.0  # does not
DRAIN_SCENARIO = f"""
rules:
  - match: "FAULT-DRAIN-SHORT"
    latency_ms: {SHORT_CALL_S * 1000:.0f}
    confidence: 0.95
  - match: "FAULT-DRAIN-LONG"
    latency_ms: {LONG_CALL_S * 1000:.0f}
    confidence: 0.95
"""


async def wait_for_calls_in_flight(stack: EmbeddedStack, count: int, call_s: float) -> None:
    """Until ``count`` calls started less than ``call_s`` ago (so are still running)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        calls = await asyncio.to_thread(sim_calls, stack)
        if sum(float(c["at"]) > time.time() - call_s + 0.3 for c in calls) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {count} model calls in flight")


async def sigterm_with_calls_in_flight(
    stack: EmbeddedStack, client: StreamClient, marker: str, call_s: float
) -> tuple[list[str], dict[str, float]]:
    """20 requests of one ``call_s`` model call each; SIGTERM the newest worker once 10 of
    them are in flight; start another worker. The ids, and when and how long the stop took."""
    ids = await send_all(client, [new_request(marker, tier="haiku") for _ in range(20)])
    await wait_for_calls_in_flight(stack, 10, call_s)
    stopped_at = time.time()
    await asyncio.to_thread(stack.workers[-1].stop, DRAIN_TIMEOUT_S + LONG_CALL_S + 30)
    stop_took = time.time() - stopped_at
    await asyncio.to_thread(stack.start_worker)
    return ids, {"stopped_at": stopped_at, "stop_took": stop_took}


async def run_sigterm(directory: Path) -> Outcome:
    """SIGTERM with short calls in flight, then again (next worker) with long ones."""
    env = {"STREAMROUTER_DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S)}
    stack = await asyncio.to_thread(start_stack, directory, DRAIN_SCENARIO, **env)
    try:
        async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
            short, short_stop = await sigterm_with_calls_in_flight(
                stack, client, "FAULT-DRAIN-SHORT", SHORT_CALL_S
            )
            long, long_stop = await sigterm_with_calls_in_flight(
                stack, client, "FAULT-DRAIN-LONG", LONG_CALL_S
            )
            await follower.settle(short + long, RESULT_TIMEOUT_S, SETTLE_S)
            return Outcome.capture(
                stack, follower, short + long, short=(short, short_stop), long=(long, long_stop)
            )
    finally:
        await asyncio.to_thread(stack.stop)


@pytest.fixture(scope="module")
def sigterm(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return asyncio.run(run_sigterm(tmp_path_factory.mktemp("sigterm")))


def test_sigterm_happened_with_calls_in_flight_and_no_finished_request_is_called_again(
    sigterm: Outcome,
) -> None:
    for phase, call_s in (("short", SHORT_CALL_S), ("long", LONG_CALL_S)):
        stopped_at = sigterm.notes[phase][1]["stopped_at"]
        running = [c for c in sigterm.calls if stopped_at - call_s < float(c["at"]) <= stopped_at]
        assert len(running) >= 10, f"{phase}: meant to stop the worker with calls in flight"
    assert sigterm.calls_after_finish() == {}


def test_sigterm_leaves_every_request_with_exactly_one_result(sigterm: Outcome) -> None:
    assert sigterm.exactly_once_problems() == {}


def test_sigterm_finishes_in_flight_calls_that_end_within_the_drain_timeout(
    sigterm: Outcome,
) -> None:
    ids, stop = sigterm.notes["short"]
    assert stop["stop_took"] <= DRAIN_TIMEOUT_S + 2
    repeated = {rid: n for rid in ids if (n := len(sigterm.calls_for(rid))) > 1}
    assert repeated == {}, "in-flight calls were abandoned and made again by the next worker"


def test_sigterm_stops_within_the_drain_timeout_and_leaves_the_rest_for_redelivery(
    sigterm: Outcome,
) -> None:
    _, stop = sigterm.notes["long"]
    assert stop["stop_took"] <= DRAIN_TIMEOUT_S + 2
