"""A record delivered again after a crash: processed again exactly when what it
forwarded did not land.

A model call whose output was forwarded is not made again by the next owner. Haiku
answers and escalates to sonnet; a slow call at the head of each haiku partition
holds that topic's commits back, so its records are still uncommitted when the worker
is SIGKILLed with the sonnet calls running. The next worker gets the haiku records
again: their escalations are on the sonnet topic, naming them as their source, so haiku
is not called (and paid) a second time. The sonnet calls in flight at the kill had no
output yet and are made again.

On a cluster the ledger's changelog and the topic of what it vouches for can have
different leaders, and a worker can die between the two writes. A request the ledger
says was admitted, whose work never landed, is admitted again, not dropped as a
duplicate; one it says is done, whose result never landed, gets its result from its
completion, delivered again.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streamrouter.client import StreamClient, bootstrap_servers, groupless_consumer
from streamrouter.codec import encode
from streamrouter.embedded.stack import EmbeddedStack

from .conftest import (
    PARTITIONS,
    TOPICS,
    Follower,
    Outcome,
    calls_by_request,
    id_on_partition,
    new_request,
    partition_of,
    send_all,
    sim_calls,
    start_stack,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

HOLD_S = 15.0  # the haiku call at each partition's head: running through the kill
SONNET_S = 8.0  # the escalated calls: running at the kill
ESCALATED = 8
SCENARIO = f"""
rules:
  - match: "FAULT-HOLD"
    latency_ms: {HOLD_S * 1000:.0f}
    confidence: 0.95
  - match: "FAULT-ESCALATE"
    model: "claude-haiku-*"
    confidence: 0.3
  - match: "FAULT-ESCALATE"
    latency_ms: {SONNET_S * 1000:.0f}
    confidence: 0.95
"""


async def wait_for_sonnet_calls(stack: EmbeddedStack, ids: list[str]) -> None:
    """Until every one of ``ids`` has been escalated and its sonnet call started."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        calls = calls_by_request(await asyncio.to_thread(sim_calls, stack), ids)
        if all(any("sonnet" in str(c["model"]) for c in made) for made in calls.values()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the requests were never escalated to sonnet")


def skipped_records(stack: EmbeddedStack) -> dict[tuple[str, str], float]:
    """The newest worker's ``streamrouter_records_skipped_total``, by (stage, reason)."""
    url = f"http://127.0.0.1:{stack.web_ports[-1]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.labels["stage"], sample.labels["reason"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "streamrouter_records_skipped_total"
    }


async def run_kill_after_escalation(directory: Path) -> Outcome:
    env = {"STREAMROUTER_MODEL_TIMEOUT_S": "60"}  # the dev stack's 10 s would cut HOLD_S
    stack = await asyncio.to_thread(start_stack, directory, SCENARIO, **env)
    try:
        async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
            tag = f"fault-hold-{uuid.uuid4().hex[:6]}"
            hold = [
                new_request("FAULT-HOLD", id_on_partition(p, tag), task_type="summarize")
                for p in range(PARTITIONS)
            ]
            held = await send_all(client, hold)
            escalating = [
                new_request("FAULT-ESCALATE", task_type="summarize") for _ in range(ESCALATED)
            ]
            escalated = await send_all(client, escalating)
            await wait_for_sonnet_calls(stack, escalated)
            killed_at = time.time()
            await asyncio.to_thread(stack.workers[0].kill)
            await asyncio.to_thread(stack.start_worker)
            await follower.settle(held + escalated, 120, 3)
            return Outcome.capture(
                stack,
                follower,
                held + escalated,
                escalated=escalated,
                killed_at=killed_at,
                skipped=await asyncio.to_thread(skipped_records, stack),
            )
    finally:
        await asyncio.to_thread(stack.stop)


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return asyncio.run(run_kill_after_escalation(tmp_path_factory.mktemp("paid-once")))


def test_the_kill_came_with_the_escalated_calls_running(killed: Outcome) -> None:
    for rid in killed.notes["escalated"]:
        assert rid not in killed.seen_at or killed.seen_at[rid] > killed.notes["killed_at"]


def test_every_request_has_exactly_one_result(killed: Outcome) -> None:
    assert killed.exactly_once_problems() == {}
    assert all(r[0].status == "ok" for r in killed.results.values())


def test_a_forwarded_call_is_not_made_again(killed: Outcome) -> None:
    haiku_calls = {
        rid: sum("haiku" in str(c["model"]) for c in killed.calls_for(rid))
        for rid in killed.notes["escalated"]
    }
    assert haiku_calls == dict.fromkeys(killed.notes["escalated"], 1)


def test_the_records_skipped_are_counted(killed: Outcome) -> None:
    assert killed.notes["skipped"] == {("answer-haiku", "forwarded"): ESCALATED}


def test_the_calls_still_running_at_the_kill_are_made_again(killed: Outcome) -> None:
    for rid in killed.notes["escalated"]:
        models = [str(c["model"]) for c in killed.calls_for(rid)]
        assert sum("sonnet" in m for m in models) == 2, models


# -- marked in the ledger, its output lost -------------------------------------------

LEDGER_CHANGELOG = "streamrouter-ledger-changelog"
LEDGER_SCENARIO = """
rules:
  - match: "FAULT-LEDGER"
    confidence: 0.95
"""


async def ledger_values(broker_url: str, partition: int) -> dict[str, object]:
    """The ledger changelog's latest value per request id on ``partition`` (Faust writes
    keys and values as JSON)."""
    async with groupless_consumer(broker_url) as consumer:
        tp = TopicPartition(LEDGER_CHANGELOG, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values: dict[str, object] = {}
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                values[json.loads(record.key)] = json.loads(record.value)
        return values


async def end_offset(broker_url: str, topic: str, partition: int) -> int:
    async with groupless_consumer(broker_url) as consumer:
        tp = TopicPartition(topic, partition)
        return (await consumer.end_offsets([tp]))[tp]


async def produce(broker_url: str, topic: str, key: bytes, value: bytes) -> None:
    """One record, on the partition the key gives (aiokafka's default is murmur2 too)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def ledger_key(request_id: str) -> bytes:
    return json.dumps(request_id).encode()


async def run_marked_without_output(directory: Path) -> tuple[str, list[str], Outcome]:
    """A request served; the worker killed; then what a worker killed between the two
    writes of a stage leaves on a cluster: one request ``admitted`` in the ledger with
    no work sent, another ``done`` with its completion there and no result. A worker
    started: what it does."""
    stack = await asyncio.to_thread(start_stack, directory, LEDGER_SCENARIO)
    try:
        async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as follower:
            served = new_request("FAULT-LEDGER", task_type="summarize")
            await send_all(client, [served])
            await follower.wait_for_results([served.request_id], 60)
            await asyncio.to_thread(stack.workers[0].kill)
            admitted = new_request("FAULT-LEDGER", task_type="summarize")
            partition = partition_of(admitted.request_id.encode())
            offset = await end_offset(stack.broker_url, TOPICS.requests, partition)
            await send_all(client, [admitted])
            mark = json.dumps(f"admitted@{offset}@{round(time.time())}").encode()
            await produce(stack.broker_url, LEDGER_CHANGELOG, ledger_key(admitted.request_id), mark)
            done_id = f"fault-ledger-done-{uuid.uuid4().hex[:8]}"
            completion = follower.results[served.request_id][0].model_copy(
                update={"request_id": done_id}
            )
            await produce(
                stack.broker_url, TOPICS.completions, done_id.encode(), encode(completion)
            )
            mark = json.dumps(f"done@{round(time.time())}").encode()
            await produce(stack.broker_url, LEDGER_CHANGELOG, ledger_key(done_id), mark)
            values = await ledger_values(stack.broker_url, partition_of(served.request_id.encode()))
            await asyncio.to_thread(stack.start_worker)
            ids = [served.request_id, admitted.request_id, done_id]
            await follower.settle(ids, 60, 1)
            return str(values.get(served.request_id)), ids, Outcome.capture(stack, follower, ids)
    finally:
        await asyncio.to_thread(stack.stop)


@pytest.fixture(scope="module")
def marked_without_output(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, list[str], Outcome]:
    return asyncio.run(run_marked_without_output(tmp_path_factory.mktemp("marked")))


def test_a_request_marked_in_the_ledger_whose_output_never_landed_gets_its_result(
    marked_without_output: tuple[str, list[str], Outcome],
) -> None:
    served_entry, ids, outcome = marked_without_output
    assert served_entry.startswith("done@"), "the ledger's changelog is not written as assumed"
    assert outcome.exactly_once_problems() == {}
    served, admitted, done = ids
    assert [len(outcome.calls_for(rid)) for rid in (served, admitted)] == [1, 1]
    assert outcome.calls_for(done) == []  # its completion was there: only finalized
