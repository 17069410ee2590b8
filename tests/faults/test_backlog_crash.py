"""A worker SIGKILLed in a backlog at production consumer timings (session and rebalance
timeout 60 s, heartbeat 3 s: the defaults), and a new one started after the kill: the
new worker is handed the partitions once the group has waited out the dead member, with
group joins of tens of seconds.

The CI variant of ``bench/crash_backlog.py``, which repeats it (and, with
``--survivors 1``, a worker that survives the kill) and prints the figures.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from streamrouter.client import StreamClient
from streamrouter.config import Settings
from streamrouter.embedded.stack import default_env

from .conftest import TOPICS, Follower, Outcome, new_request, send_all, start_stack

# The scenario (its module fixture) takes 3 minutes: two workers join at these timings.
pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(600)]

DEFAULTS = Settings()
PRODUCTION_TIMINGS = default_env(
    "STREAMROUTER_KAFKA_SESSION_TIMEOUT_S",
    "STREAMROUTER_KAFKA_REBALANCE_TIMEOUT_S",
    "STREAMROUTER_KAFKA_HEARTBEAT_S",
)
SCENARIO = """
latency_ms: 300
rules:
  - match: "FAULT-BACKLOG"
    confidence: 0.95
"""
REQUESTS = 200
KILL_AFTER = 30
# The goal: the last result within the session timeout + 60 s of the kill. On tansu it is
# met by 3 s (bench/crash_backlog.py: 114-117 s); the test allows a noisy CI machine 15 s
# more, and still fails if recovery takes one group join (30 s at these timings) longer.
RECOVERY_BOUND_S = DEFAULTS.kafka_session_timeout_s + 60
CI_SLACK_S = 15.0
SETTLE_S = 5.0
WORKER_START_S = 180.0  # after a kill: the dead member's session timeout, and two joins


async def run_backlog_crash(directory: Path) -> Outcome:
    stack = await asyncio.to_thread(start_stack, directory, SCENARIO, **PRODUCTION_TIMINGS)
    try:
        async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
            tag = f"backlog-{uuid.uuid4().hex[:6]}"
            requests = [
                new_request("FAULT-BACKLOG", f"{tag}-{n}", task_type="summarize")
                for n in range(REQUESTS)
            ]
            sent = await send_all(client, requests)
            await follower.wait_for(lambda: len(follower.results) >= KILL_AFTER, 120, "results")
            killed_at = time.time()
            await asyncio.to_thread(stack.workers[0].kill)
            await asyncio.to_thread(stack.start_worker, WORKER_START_S)
            await follower.settle(sent, RECOVERY_BOUND_S + 90, SETTLE_S)
            return Outcome.capture(stack, follower, sent, killed_at=killed_at)
    finally:
        await asyncio.to_thread(stack.stop)


@pytest.fixture(scope="module")
def backlog_crash(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return asyncio.run(run_backlog_crash(tmp_path_factory.mktemp("backlog-crash")))


def test_a_backlog_crash_leaves_every_request_with_exactly_one_result(
    backlog_crash: Outcome,
) -> None:
    assert backlog_crash.exactly_once_problems() == {}


def test_the_last_result_comes_within_the_session_timeout_and_a_minute_of_the_kill(
    backlog_crash: Outcome,
) -> None:
    last = max(backlog_crash.seen_at.values())
    assert last - backlog_crash.notes["killed_at"] <= RECOVERY_BOUND_S + CI_SLACK_S


def test_no_finished_request_is_sent_to_a_model_again(backlog_crash: Outcome) -> None:
    assert backlog_crash.calls_after_finish() == {}
