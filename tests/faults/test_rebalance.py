"""Two workers in one consumer group under steady traffic: a second worker joins late,
then the first leaves. Across both rebalances every request ends in exactly one result,
and no request that had finished is sent to a model again.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from streamrouter.client import StreamClient

from .conftest import (
    MIXED_RULES,
    TOPICS,
    Follower,
    Outcome,
    mixed_request,
    send_steadily,
    start_stack,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

SCENARIO = "latency_ms: {mean: 300, jitter: 200}\nrules:" + MIXED_RULES
RATE = 30.0  # requests per second, throughout
RESULT_TIMEOUT_S = 60.0
SETTLE_S = 3.0


async def run_rebalances(directory: Path) -> Outcome:
    stack = await asyncio.to_thread(start_stack, directory, SCENARIO)
    try:
        async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
            sent: list[str] = []
            stop = asyncio.Event()
            sender = asyncio.create_task(send_steadily(client, mixed_request, RATE, stop, sent))
            await follower.wait_for(lambda: len(follower.results) >= 20, 60, "20 results")
            await asyncio.to_thread(stack.start_worker)  # joins: both workers rebalance
            await asyncio.sleep(3)  # both serve
            first = stack.workers[0]
            await asyncio.to_thread(first.stop)  # leaves: the second takes everything
            left_at = len(sent)
            await asyncio.sleep(5)
            stop.set()
            await sender
            await follower.settle(sent, RESULT_TIMEOUT_S, SETTLE_S)
            logs = {w.name: (stack.log_dir / f"{w.name}.log").read_text() for w in stack.workers}
            return Outcome.capture(stack, follower, sent, left_at=left_at, logs=logs)
    finally:
        await asyncio.to_thread(stack.stop)


@pytest.fixture(scope="module")
def rebalances(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return asyncio.run(run_rebalances(tmp_path_factory.mktemp("rebalance")))


def assignments(log: str) -> int:
    return len(re.findall(r"Setting newly assigned partitions", log))


def test_both_workers_took_part(rebalances: Outcome) -> None:
    logs = rebalances.notes["logs"]
    assert assignments(logs["worker-0"]) >= 2  # its first join, then the late joiner's
    assert assignments(logs["worker-1"]) >= 2  # its join, then after the first left
    assert rebalances.notes["left_at"] < len(rebalances.request_ids)


def test_across_rebalances_every_request_has_exactly_one_result(rebalances: Outcome) -> None:
    assert rebalances.exactly_once_problems() == {}
    assert all(r[0].status == "ok" for r in rebalances.results.values())


def test_across_rebalances_no_finished_request_is_sent_to_a_model_again(
    rebalances: Outcome,
) -> None:
    assert rebalances.calls_after_finish() == {}
