"""The broker restarts under a running worker. The embedded broker keeps everything in
memory, so it comes back empty: no topics, no offsets, no group. The worker must survive,
reconnect, bring its topics back, and serve new requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer

from streamrouter.client import StreamClient, bootstrap_servers
from streamrouter.embedded.stack import EmbeddedStack

from .conftest import PARTITIONS, TOPICS, Follower, new_request, send_all, start_stack

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

SCENARIO = """
latency_ms: {mean: 20}
rules:
  - match: "FAULT-"
    complexity: simple
    confidence: 0.95
"""
TOPICS_BACK_TIMEOUT_S = 20.0
REJOIN_S = 8.0  # the worker notices and rejoins its group within a few seconds
TOPIC_CHECK_S = 2.0  # how often the worker checks that its topics exist (default 30)


async def serve_then_restart_broker(stack: EmbeddedStack) -> None:
    async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
        before = await send_all(client, [new_request("FAULT-BEFORE") for _ in range(5)])
        await follower.wait_for_results(before, 60)
    await asyncio.to_thread(stack.restart_broker)
    await asyncio.sleep(REJOIN_S)


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    """A stack that served requests, then had its broker restarted (empty)."""
    env = {"STREAMROUTER_TOPIC_CHECK_S": str(TOPIC_CHECK_S)}
    stack = start_stack(tmp_path_factory.mktemp("broker-restart"), SCENARIO, **env)
    try:
        asyncio.run(serve_then_restart_broker(stack))
        yield stack
    finally:
        for worker in stack.workers:
            worker.kill()  # its graceful stop adds nothing here, and can take 15 s
        stack.stop()


def test_worker_survives_a_broker_restart_and_rejoins_its_group(
    restarted: EmbeddedStack,
) -> None:
    assert restarted.workers[0].running
    log = (restarted.log_dir / "worker-0.log").read_text()
    after_restart = log[log.index("Unable connect to node") :]
    assert "Joined group" in after_restart


async def topic_partitions(broker_url: str) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url))
    await consumer.start()
    try:
        return {t: len(consumer.partitions_for_topic(t) or ()) for t in await consumer.topics()}
    finally:
        await consumer.stop()


async def wait_for_topics(broker_url: str, names: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    found: dict[str, int] = {}
    while time.monotonic() < deadline:
        found = await topic_partitions(broker_url)
        if all(found.get(name) == PARTITIONS for name in names):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"after {timeout}s the broker has {found}; wanted {sorted(names)}")


async def test_after_a_broker_restart_the_worker_declares_its_topics_and_serves(
    restarted: EmbeddedStack,
) -> None:
    stack = restarted
    # The service owns its topics: it must declare them again, with its partition count,
    # before anyone publishes (a producer would auto-create them with the broker default).
    own = {TOPICS.requests, TOPICS.completions, TOPICS.results, TOPICS.dlq}
    await wait_for_topics(stack.broker_url, own, TOPICS_BACK_TIMEOUT_S)
    assert stack.workers[0].running
    async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
        after = await send_all(client, [new_request("FAULT-AFTER") for _ in range(5)])
        await follower.wait_for_results(after, 60)
        assert all(follower.results[rid][0].status == "ok" for rid in after)
    assert stack.workers[0].running
