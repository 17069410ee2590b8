"""The commit rule: never commit past a record still in flight (faust-streaming #606),
nor past one a stopping worker left for redelivery, nor past one a stream skipped."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import aiokafka
import pytest
from aiokafka import TopicPartition
from faust.types import TP
from faust.utils.tracing import noop_span
from intervaltree import IntervalTree

from streamrouter.admin import TopicAdmin, TopicSpec
from streamrouter.client import StreamClient, bootstrap_servers
from streamrouter.config import Topics
from streamrouter.embedded.broker import embedded_broker
from streamrouter.kafka_transport import (
    InFlightSafeConsumer,
    ReadOffsets,
    has_record_at,
    oldest_in_flight,
    skipped_head,
)

TOPIC = TP("llm.route.classify", 0)
OTHER = TP("llm.route.classify", 1)
PAST = TopicPartition("llm.route.classify", 2)
CHANGELOG = TopicPartition("streamrouter-ledger-changelog", 0)  # recovery reads it itself


@dataclass(eq=False)
class FakeMessage:
    tp: TP
    offset: int
    acked: bool = False


def consumer(
    committed: int | None, acked: list[int], in_flight: list[FakeMessage]
) -> InFlightSafeConsumer:
    """Only the state ``_new_offset`` reads; no Kafka client behind it."""
    c = object.__new__(InFlightSafeConsumer)
    c._acked = defaultdict(list, {TOPIC: list(acked)})
    c._acked_index = defaultdict(set, {TOPIC: set(acked)})
    c._gap = defaultdict(IntervalTree)
    c._committed_offset = defaultdict(lambda: None, {TOPIC: committed})
    c._unacked_messages = set(in_flight)
    c._abandoned = set()
    c._sought = {}
    c._seeking = set()
    c._in_flight_when_sought = set()
    # Faust acks the agents' topics; the tables' changelogs it never commits.
    acked_topic = lambda topic: not topic.endswith("-changelog")  # noqa: E731
    c.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=acked_topic))
    return c


def test_a_slow_record_at_the_committed_offset_holds_the_commit() -> None:
    slow = FakeMessage(TOPIC, 37)
    c = consumer(committed=37, acked=[38, 39], in_flight=[slow])
    assert c._new_offset(TOPIC) is None  # Faust 0.15 alone commits 40 and loses 37
    slow.acked = True
    c._acked[TOPIC].append(37)
    assert c._new_offset(TOPIC) == 40


def test_the_commit_stops_below_the_oldest_record_in_flight() -> None:
    c = consumer(committed=30, acked=[30, 31, 32, 34, 35], in_flight=[FakeMessage(TOPIC, 33)])
    assert c._new_offset(TOPIC) == 33
    assert c._acked[TOPIC] == [34, 35]  # kept for the next commit


def test_records_of_other_partitions_or_already_acked_do_not_hold_it() -> None:
    in_flight = [FakeMessage(OTHER, 1), FakeMessage(TOPIC, 5, acked=True)]
    c = consumer(committed=5, acked=[5, 6, 7], in_flight=in_flight)
    assert c._new_offset(TOPIC) == 8


def test_records_left_in_flight_by_a_stopping_worker_are_never_acked() -> None:
    slow, done = FakeMessage(TOPIC, 37), FakeMessage(TOPIC, 36, acked=True)
    c = consumer(committed=36, acked=[36, 38], in_flight=[slow, done])
    assert c.abandon_in_flight() == 1
    assert slow.acked  # so Faust's stream skips it when it acks its event on stopping
    assert c._new_offset(TOPIC) == 37  # the partition's next owner starts at 37


def test_oldest_in_flight() -> None:
    messages = [FakeMessage(TOPIC, 9), FakeMessage(TOPIC, 4), FakeMessage(OTHER, 1)]
    assert oldest_in_flight(TOPIC, messages) == 4
    assert oldest_in_flight(TP("x", 0), messages) is None


def test_read_offsets_of_acked_topics_never_pass_the_committed_offset() -> None:
    """Faust drops a fetched record below the read offset: for the agents' topics that is
    the committed offset, so a record re-fetched after a seek is delivered again."""
    acked_topics = {TOPIC.topic}
    fake = SimpleNamespace(
        app=SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=acked_topics.__contains__)),
        _committed_offset=defaultdict(lambda: None, {TOPIC: 179}),
    )
    offsets = ReadOffsets(fake)  # type: ignore[arg-type]
    changelog = TP("streamrouter-ledger-changelog", 0)
    offsets[TOPIC] = 198  # Faust records the last offset it delivered
    offsets[changelog] = 50
    assert offsets[TOPIC] == 179
    assert offsets[changelog] == 50  # other topics keep Faust's rule
    assert offsets[TP("streamrouter-ledger-changelog", 1)] is None


def test_a_head_record_neither_acked_nor_in_flight_was_skipped() -> None:
    assert skipped_head(committed=118, acked=[121, 122], oldest=None)
    assert skipped_head(committed=118, acked=[121], oldest=125)
    assert not skipped_head(committed=118, acked=[121], oldest=118)  # still in flight
    assert not skipped_head(committed=118, acked=[118, 119], oldest=None)  # done, in order
    assert not skipped_head(committed=118, acked=[], oldest=None)
    assert not skipped_head(committed=None, acked=[3], oldest=None)  # nothing committed yet


@dataclass
class Asked:
    seeks: list[tuple[TP, int]]
    reads: list[tuple[TP, int]]


def asked(c: InFlightSafeConsumer) -> Asked:
    """Replace the seek and the broker read with a record of what was asked."""
    done = Asked([], [])

    async def seek(tp: TP, offset: int) -> None:
        done.seeks.append((tp, offset))

    def ask_broker(tp: TP, offset: int) -> None:
        done.reads.append((tp, offset))
        c._sought[(tp, offset)] = asyncio.get_running_loop().create_future()

    c.log = SimpleNamespace(warning=lambda *args: None)  # type: ignore[assignment]
    c._seek_in_consumer_thread = seek  # type: ignore[method-assign]  # no Kafka client here
    c._ask_broker = ask_broker  # type: ignore[method-assign]
    return done


async def test_commits_wait_for_a_skipped_head_record_the_broker_holds() -> None:
    c = consumer(committed=118, acked=[119, 120], in_flight=[])
    done = asked(c)
    assert c._new_offset(TOPIC) is None  # sought back, the broker asked
    await asyncio.sleep(0)  # the seek runs
    assert c._new_offset(TOPIC) is None
    assert done.seeks == done.reads == [(TOPIC, 118)]
    c._sought[(TOPIC, 118)].set_result(True)
    # It holds a record: commits wait for it however long it takes to be processed (a
    # stream buffer at real model latency, a 30 s group join): never past it on a timer.
    assert c._new_offset(TOPIC) is None
    c._acked[TOPIC].append(118)  # processed at last
    assert c._new_offset(TOPIC) == 121


async def test_what_is_fetched_again_is_delivered_only_where_it_was_not_processed() -> None:
    # The seek back to a skipped 118 fetches 119-121 again: 119 and 120 were acked, 121
    # was in flight when the seek was made. Delivered again, each was sent to a model again.
    in_flight = FakeMessage(TOPIC, 121)
    c = consumer(committed=118, acked=[119, 120], in_flight=[in_flight])
    asked(c)
    delivered: list[int] = []

    async def deliver(message: FakeMessage) -> None:
        delivered.append(message.offset)

    c._deliver = deliver
    assert c._new_offset(TOPIC) is None  # sought back to 118
    in_flight.acked = True  # 121 done meanwhile; commits still wait for 118
    for offset in (118, 119, 120, 121, 122):
        await c._deliver_unless_processed(FakeMessage(TOPIC, offset))
    await c._deliver_unless_processed(FakeMessage(OTHER, 119))
    assert delivered == [118, 122, 119]


async def test_an_offset_holding_no_record_is_passed_over() -> None:
    c = consumer(committed=118, acked=[119, 120], in_flight=[])
    asked(c)
    assert c._new_offset(TOPIC) is None
    c._sought[(TOPIC, 118)].set_result(False)  # a transaction marker
    assert c._new_offset(TOPIC) == 121


async def test_a_failed_broker_read_is_asked_again_and_commits_keep_waiting() -> None:
    c = consumer(committed=118, acked=[119, 120], in_flight=[])
    done = asked(c)
    assert c._new_offset(TOPIC) is None
    c._sought[(TOPIC, 118)].set_exception(TimeoutError())
    assert c._new_offset(TOPIC) is None
    assert c._new_offset(TOPIC) is None
    await asyncio.sleep(0)
    assert done.reads == [(TOPIC, 118), (TOPIC, 118)]
    assert done.seeks == [(TOPIC, 118)]  # records after it are not delivered a third time


@pytest.fixture
def broker_url() -> Iterator[str]:
    process, url = embedded_broker()
    with process:
        process.start(30)
        yield url


@pytest.mark.e2e
async def test_the_broker_says_which_offsets_hold_records(broker_url: str) -> None:
    async with TopicAdmin(broker_url) as admin:
        await admin.create([TopicSpec("held", 1, 1)])
    async with StreamClient(broker_url, Topics(prefix="x.")) as client:
        for n in range(3):
            await client.send_raw(b"k", b"v%d" % n, topic="held")
    for offset in range(3):
        assert await asyncio.wait_for(has_record_at(broker_url, TP("held", 0), offset), 30)


async def revoke(generation: int) -> list[dict[TP, int]]:
    """Revoke ``TOPIC`` (committed 40, acked 40-42) from a member of ``generation``: what
    the app's revoke handler, which waits for the events in flight and commits, finds
    committable."""
    c = consumer(committed=40, acked=[40, 41, 42], in_flight=[])
    c.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
    c.app._start_span_from_rebalancing = lambda name: noop_span()
    coordinator = SimpleNamespace(generation=generation)
    c._thread = SimpleNamespace(_ensure_consumer=lambda: SimpleNamespace(_coordinator=coordinator))
    c._active_partitions = None
    c._paused_partitions = set()
    c._read_offset = {}
    c._revoked_acks = {}
    committable: list[dict[TP, int]] = []

    async def app_handler(revoked: set[TP]) -> None:
        committable.append(c._filter_committable_offsets(list(c._acked)))

    c._app_on_revoked = app_handler
    c._on_partitions_revoked = c._commit_revoked
    await c.on_partitions_revoked({TOPIC})
    assert TOPIC not in c._acked and TOPIC not in c._committed_offset  # forgotten after
    return committable


async def test_a_revoked_partition_commits_what_was_acked_before_the_rebalance() -> None:
    # Faust drops a revoked partition's acks before the app's handler commits: without
    # them it committed nothing acked since the last timed commit, and the next owner
    # processed it again.
    assert await revoke(generation=7) == [{TOPIC: 43}]


async def test_a_member_the_group_lost_commits_nothing_at_the_revoke() -> None:
    # The broker restarted empty and did not know the member: offsets of the old topics
    # committed to the new ones would skip their first records.
    assert await revoke(generation=-1) == [{}]


async def nothing(*partitions: TopicPartition) -> None:
    pass


async def test_a_partition_the_broker_has_no_committed_offset_for_has_none() -> None:
    # As after a broker restart: a commit that failed as the group rejoined was recorded
    # anyway (Faust 0.15 keeps it), and the empty broker has no offset to replace it with.
    c = consumer(committed=40, acked=[], in_flight=[])
    c._committed_offset[OTHER] = 7

    async def broker_committed() -> dict[TopicPartition, int | None]:
        return {TopicPartition(*TOPIC): None, TopicPartition(*OTHER): 7}  # aiokafka's keys

    c._thread = SimpleNamespace(seek_to_committed=broker_committed, seek_to_beginning=nothing)
    c._read_offset = {}
    c._sought[(TOPIC, 38)] = asyncio.get_running_loop().create_future()
    await c.perform_seek()
    assert c._committed_offset[TOPIC] is None  # else every new record below 40 is dropped
    assert c._committed_offset[OTHER] == 7
    assert not c._sought  # what this assignment's streams skip is fetched again


async def test_a_partition_without_a_committed_offset_is_sought_to_its_beginning() -> None:
    # aiokafka seeks only to a committed offset above 0: a partition without one stays
    # where fetching got, past the records Faust dropped while flow was suspended.
    c = consumer(committed=None, acked=[], in_flight=[])
    sought_to_beginning: list[TopicPartition] = []

    async def broker_committed() -> dict[TopicPartition, int | None]:
        return {TopicPartition(*TOPIC): None, TopicPartition(*OTHER): 0, PAST: 12, CHANGELOG: None}

    async def seek_to_beginning(*partitions: TopicPartition) -> None:
        sought_to_beginning.extend(partitions)

    c._thread = SimpleNamespace(
        seek_to_committed=broker_committed, seek_to_beginning=seek_to_beginning
    )
    c._read_offset = {}
    await c.perform_seek()
    assert sought_to_beginning == [TopicPartition(*TOPIC), TopicPartition(*OTHER)]


@pytest.mark.e2e
async def test_aiokafka_leaves_a_partition_without_a_commit_where_fetching_got(
    broker_url: str,
) -> None:
    """What the seek to the beginning above makes up for, in the installed aiokafka."""
    async with TopicAdmin(broker_url) as admin:
        await admin.create([TopicSpec("uncommitted", 1, 1)])
    async with StreamClient(broker_url, Topics(prefix="x.")) as client:
        for n in range(3):
            await client.send_raw(b"k", b"v%d" % n, topic="uncommitted")
    partition = TopicPartition("uncommitted", 0)
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        group_id="never-commits",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([partition])
        fetched = 0
        while fetched < 3:
            batch = await consumer.getmany(partition, timeout_ms=1000)
            fetched += len(batch.get(partition, ()))
        assert await consumer.seek_to_committed() == {partition: None}
        assert await consumer.position(partition) == 3  # not sought back
    finally:
        await consumer.stop()
