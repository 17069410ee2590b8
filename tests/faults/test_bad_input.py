"""The bad-input corpus against a running worker: every bad record ends as a dead letter
with a specific reason, the worker stays up, and the valid requests around them are served.

One stack serves the module (a worker's first group join is the slow part). The corpus
test runs first; then inputs that each once crashed the admit agent or slipped through,
one at a time, each between two valid requests on its partition.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka import AIOKafkaProducer

from streamrouter.client import StreamClient, bootstrap_servers
from streamrouter.embedded.stack import EmbeddedStack

from .conftest import TOPICS, Follower, id_on_partition, partition_of, start_stack
from .corpus import BadInput, Limits, build_corpus, valid_request

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

LIMITS = Limits(max_prompt_chars=5000, max_output_tokens=4096)
SCENARIO = """
latency_ms: {mean: 5}
rules:
  - match: "FAULT-OK"
    complexity: simple
    confidence: 0.95
"""
TIMEOUT_S = 90.0
# Once the valid request sent after a bad one (same partition) is served, the admit
# agent has handled the bad one: its dead letter only has to cross the broker.
DEAD_LETTER_GRACE_S = 5.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    running = start_stack(
        tmp_path_factory.mktemp("bad-input"),
        SCENARIO,
        STREAMROUTER_MAX_PROMPT_CHARS=str(LIMITS.max_prompt_chars),
        STREAMROUTER_MAX_OUTPUT_TOKENS=str(LIMITS.max_output_tokens),
    )
    yield running
    running.stop()


@pytest.fixture
async def producer(stack: EmbeddedStack) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer that may send up to 16 MB: aiokafka refuses more than 1 MB by
    default, and tansu does not enforce ``max.message.bytes``, so 10 MB reaches the worker."""
    running = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(stack.broker_url),
        max_request_size=16 * 1024 * 1024,
        acks="all",
    )
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def follower(stack: EmbeddedStack) -> AsyncIterator[Follower]:
    async with StreamClient(stack.broker_url, TOPICS) as client, Follower(client) as following:
        yield following


async def send_valid(producer: AIOKafkaProducer, request_id: str) -> str:
    value = json.dumps(valid_request(request_id)).encode()
    await producer.send_and_wait(TOPICS.requests, key=request_id.encode(), value=value)
    return request_id


async def send_between_valid(
    producer: AIOKafkaProducer, entries: list[BadInput], tag: str, every: int = 4
) -> list[str]:
    """Send the entries with a valid request before them, after every ``every`` of them
    (on the partition of the entry just sent) and at the end; the valid requests' ids."""
    valid_ids = [await send_valid(producer, f"{tag}-valid-first")]
    for index, entry in enumerate(entries, start=1):
        await producer.send_and_wait(TOPICS.requests, key=entry.key, value=entry.value)
        if index % every == 0 or index == len(entries):
            partition = partition_of(entry.key) if entry.key else 0
            rid = id_on_partition(partition, f"{tag}-valid-{index}")
            valid_ids.append(await send_valid(producer, rid))
    return valid_ids


def describe_mismatch(entry: BadInput, follower: Follower) -> str | None:
    """Why ``entry`` did not leave what it should (None: it did)."""
    if entry.expect == "dead_letter":
        letters = follower.dead.get(entry.key, [])
        if len(letters) != 1:
            return f"{len(letters)} dead letters"
        letter = letters[0]
        if letter.error_type != entry.error_type:
            return f"error_type {letter.error_type!r}: {letter.error_message}"
        if not re.search(entry.message, letter.error_message):
            return f"message {letter.error_message!r} does not match {entry.message!r}"
        if letter.topic != TOPICS.requests or not (entry.value or b"").startswith(letter.value):
            return "the dead letter does not hold the original record (or a prefix of it)"
        return None
    results = follower.results.get(entry.request_id, [])
    if len(results) != 1:
        return f"{len(results)} results"
    assert entry.check is not None
    if not entry.check(results[0]):
        return f"unexpected result {results[0].model_dump(exclude={'attempts'})}"
    return None


async def test_every_bad_input_is_dead_lettered_with_its_reason_and_valid_ones_are_served(
    stack: EmbeddedStack, producer: AIOKafkaProducer, follower: Follower
) -> None:
    tag = f"bad-{uuid.uuid4().hex[:8]}"
    corpus = build_corpus(tag, LIMITS)
    assert len({e.name for e in corpus}) == len(corpus) >= 25

    valid_ids = await send_between_valid(producer, corpus, tag)

    letters = {e.key for e in corpus if e.expect == "dead_letter"}
    served = [e.request_id for e in corpus if e.expect == "result"]
    await follower.wait_for_results([*valid_ids, *served], TIMEOUT_S)
    await follower.wait_for(
        lambda: letters <= follower.dead.keys(),
        TIMEOUT_S,
        lambda: f"dead letters (missing: {sorted(k[:60] for k in letters - follower.dead.keys())})",
    )
    assert {e.name: why for e in corpus if (why := describe_mismatch(e, follower))} == {}
    assert all(follower.results[rid][0].status == "ok" for rid in valid_ids)
    assert stack.workers[0].running
    every_letter = [d for letters in follower.dead.values() for d in letters]
    assert [d.error_message for d in every_letter if d.error_type == "internal_error"] == []


async def check_one(
    stack: EmbeddedStack, producer: AIOKafkaProducer, follower: Follower, entry: BadInput
) -> None:
    """``entry`` between two valid requests on its partition: both are served, the entry
    leaves what it should, and the worker still runs."""
    valid_ids = await send_between_valid(producer, [entry], entry.name, every=1)
    await follower.wait_for_results(valid_ids, TIMEOUT_S)
    if entry.expect == "dead_letter":
        await follower.wait_for(
            lambda: entry.key in follower.dead, DEAD_LETTER_GRACE_S, f"{entry.name}'s dead letter"
        )
    else:
        await follower.wait_for_results([entry.request_id], DEAD_LETTER_GRACE_S)
    assert describe_mismatch(entry, follower) is None
    assert stack.workers[0].running


async def test_a_null_value_is_dead_lettered(
    stack: EmbeddedStack, producer: AIOKafkaProducer, follower: Follower
) -> None:
    key = f"tombstone-{uuid.uuid4().hex[:8]}".encode()
    entry = BadInput("tombstone", key, None, "dead_letter", "undecodable", "empty|null|tombstone")
    await check_one(stack, producer, follower, entry)


async def test_a_10_mb_value_is_dead_lettered(
    stack: EmbeddedStack, producer: AIOKafkaProducer, follower: Follower
) -> None:
    rid = f"ten-mb-{uuid.uuid4().hex[:8]}"
    value = json.dumps(valid_request(rid, text="x" * 10 * 1024 * 1024)).encode()
    entry = BadInput("10mb", rid.encode(), value, "dead_letter", "too_large", "over the limit")
    await check_one(stack, producer, follower, entry)


async def test_a_request_too_large_for_the_internal_topics_is_dead_lettered(
    stack: EmbeddedStack, producer: AIOKafkaProducer, follower: Follower
) -> None:
    rid = f"big-metadata-{uuid.uuid4().hex[:8]}"
    value = json.dumps(valid_request(rid, metadata={"blob": "m" * 3_000_000})).encode()
    entry = BadInput(
        "big-metadata", rid.encode(), value, "dead_letter", "too_large", "over the limit"
    )
    await check_one(stack, producer, follower, entry)


@pytest.mark.parametrize("request_id", ["r" * 10_000, "line\nbreak\x00nul"], ids=["long", "ctrl"])
async def test_an_unreasonable_request_id_is_dead_lettered(
    stack: EmbeddedStack, producer: AIOKafkaProducer, follower: Follower, request_id: str
) -> None:
    request_id = f"{request_id}-{uuid.uuid4().hex[:8]}"
    messages = [{"role": "user", "content": "FAULT-OK hello"}]
    value = json.dumps(valid_request(request_id, messages=messages)).encode()
    entry = BadInput(
        "id", request_id.encode(), value, "dead_letter", "invalid_request", "request_id"
    )
    await check_one(stack, producer, follower, entry)
