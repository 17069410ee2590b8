"""Backpressure: when the model API is slow, in-flight work is bounded and the worker
stops fetching instead of buffering the backlog in memory.

A slow model (2 s a call) and a small in-flight limit (8) against a backlog of 1,500
requests of 40 KB each (60 MB): the model never sees more than 8 calls at once, and the
worker's memory must not grow with the backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from streamrouter.client import StreamClient
from streamrouter.embedded.stack import EmbeddedStack

from .conftest import TOPICS, Follower, new_request, send_all, sim_calls, start_stack, worker_rss_mb

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

IN_FLIGHT = 8
CALL_S = 2.0
BACKLOG = 1500
PROMPT_CHARS = 40_000
SCENARIO = f"""
rules:
  - match: "FAULT-SLOW"
    latency_ms: {CALL_S * 1000:.0f}
    confidence: 0.95
"""
# What a bounded buffer may cost on top of the resting worker: a few hundred requests of
# 40 KB, decoded, plus the fetcher's buffer. Buffering the whole backlog costs > 100 MB.
GROWTH_LIMIT_MB = 40.0


async def run_backlog(stack: EmbeddedStack) -> dict[str, float]:
    pid = stack.workers[0].pid
    assert pid is not None
    async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
        warm = await send_all(client, [new_request("FAULT-SLOW", tier="opus") for _ in range(16)])
        await follower.wait_for_results(warm, 60)
        at_rest = worker_rss_mb(pid)
        text = "x" * PROMPT_CHARS
        backlog = [new_request("FAULT-SLOW", tier="opus", text=text) for _ in range(BACKLOG)]
        await send_all(client, backlog)
        peak = at_rest
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            peak = max(peak, worker_rss_mb(pid))
            await asyncio.sleep(0.25)
        calls = await asyncio.to_thread(sim_calls, stack)
    return {
        "at_rest_mb": at_rest,
        "peak_mb": peak,
        "max_in_flight": max(int(c["in_flight"]) for c in calls),  # each call counts itself
        "calls": len(calls),
    }


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, float]]:
    env = {"STREAMROUTER_MAX_IN_FLIGHT": str(IN_FLIGHT)}
    stack = start_stack(tmp_path_factory.mktemp("backpressure"), SCENARIO, **env)
    try:
        yield asyncio.run(run_backlog(stack))
    finally:
        stack.stop()


def test_a_slow_model_never_sees_more_than_the_in_flight_limit(
    backlog: dict[str, float],
) -> None:
    assert backlog["max_in_flight"] <= IN_FLIGHT
    assert backlog["calls"] >= IN_FLIGHT * 2  # the limit was reached, not just respected


def test_a_backlog_does_not_grow_the_worker_memory(backlog: dict[str, float]) -> None:
    growth = backlog["peak_mb"] - backlog["at_rest_mb"]
    assert growth < GROWTH_LIMIT_MB, backlog
