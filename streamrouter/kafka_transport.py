"""Faust's aiokafka transport with the corrections the service depends on.

1. Never commit past a record still in flight. With concurrent actors a slow record at
   the committed offset can be overtaken by faster ones; Faust 0.15's ``_new_offset``
   then commits over it (faust-streaming #606), and a crash or a partition hand-over
   loses it. Here the committable run stops below the oldest record fetched but not
   yet acked. Records still in flight when a stopping worker gives up waiting are
   abandoned: never acked, though Faust's streams ack their current event when they
   stop, so the partition's next owner processes them again.
2. Deliver every record at or after the committed offset. Faust drops a fetched record
   whose offset is below the last one it delivered on that partition, and skips the
   offsets in between when the next one jumps ahead ("gaps"). Around the seek of a
   partition assignment, records fetched before the seek arrive after it, and the
   re-fetched ones are dropped unprocessed (faust-streaming #216, #221): a request is
   lost at a hand-over. Here, for the topics the agents read, a record is dropped only
   below the committed offset, and nothing counts as a gap; a copy delivered twice is
   processed twice, and the ledger keeps the result single.
3. Fetch again what a stream skipped. Across a rebalance Faust's streams skip records
   of a previous consumer generation, neither processing nor acking them. When the
   record at a partition's committed offset is neither acked nor in flight while later
   ones are acked, the partition is sought back to it, and commits wait until it is
   acked. Only an offset the broker says holds no record (a transaction marker) is
   passed over: a group-less read from that offset (``has_record_at``) tells. Commits
   never go past a record on a timer: a re-fetched record can wait in a stream buffer,
   or behind a 30-second group join, for longer than any timer. A partition with no
   committed offset yet is sought back to its beginning whenever Faust seeks to the
   committed offsets: aiokafka's ``seek_to_committed`` leaves such a partition where
   fetching got, and Faust drops what it fetches while flow is suspended (at every
   assignment, during recovery), so those records were skipped for good and the first
   commit went over them.
4. An assignment's committed offsets are the broker's. Faust records the offsets of
   every commit it tries as committed, also one that failed because the group was
   rebalancing, and at an assignment it keeps that stale offset where the broker has
   none (a restarted broker that lost its offsets); the read offset of 2. then drops
   every new record below it. Here a partition without a committed offset has none.
5. The consumer's fetch wait is a setting. Faust hard-codes ``fetch_max_wait_ms=1500``,
   which a broker that holds fetches open for that long (tansu does) adds to the latency
   of every hop on a quiet partition.
6. A revoked partition's acks are committed. At a rebalance Faust forgets the acks of
   the revoked partitions first and only then has the app wait for the events in flight
   and commit, so everything acked since the last timed commit (up to
   ``broker_commit_interval``) was processed again by the partition's next owner: its
   model calls repeated, dozens of requests per rebalance at 30 requests a second. Here
   the acks are kept for that commit and forgotten after it. Not when the group no
   longer knows the member (a broker that restarted empty): its partitions were lost,
   not handed over, and the old offsets committed to the new topics would skip their
   first records.
7. What was fetched again is delivered only where it was not processed. The seek back
   of 3. fetches every record after the skipped one too: those acked since the last
   commit, and those in flight when the seek was made, are not delivered a second time
   (each was sent to a model again before).

All override private hooks of faust-streaming 0.15.3 and aiokafka 0.14.0, the versions
pyproject.toml pins exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import aiokafka
from aiokafka import TopicPartition
from aiokafka.protocol.commit import OffsetCommitRequest
from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from streamrouter.client import groupless_consumer

__all__ = [
    "AckState",
    "InFlightSafeConsumer",
    "ReadOffsets",
    "StreamRouterTransport",
    "has_record_at",
    "in_flight",
    "oldest_in_flight",
    "skipped_head",
]


def in_flight(tp: TP, tracked: Any) -> list[int]:
    """The offsets of ``tp`` among the tracked messages not yet acked."""
    return [m.offset for m in list(tracked) if m.tp == tp and not m.acked]


def oldest_in_flight(tp: TP, tracked: Any, abandoned: Any = ()) -> int | None:
    """The lowest offset of ``tp`` among the tracked messages not yet acked and the
    abandoned ones."""
    offsets = in_flight(tp, tracked) + [m.offset for m in abandoned if m.tp == tp]
    return min(offsets, default=None)


def skipped_head(committed: int | None, acked: list[int], oldest: int | None) -> bool:
    """Whether the record at the committed offset was left behind: later offsets are
    acked, and it is neither acked nor in flight (``oldest``: the oldest in flight)."""
    if committed is None or not acked or min(acked) <= committed:
        return False
    return oldest is None or oldest > committed


async def has_record_at(broker_url: str, tp: TP, offset: int) -> bool:
    """Whether ``offset`` of ``tp`` holds a record a consumer is given: not a transaction
    marker (nor a record compaction removed). Waits until the partition reaches it."""
    partition = TopicPartition(tp.topic, tp.partition)
    async with groupless_consumer(broker_url) as consumer:
        consumer.assign([partition])
        consumer.seek(partition, offset)
        while await consumer.position(partition) <= offset:
            batch = await consumer.getmany(partition, timeout_ms=1000, max_records=1)
            for record in batch.get(partition, ()):
                return record.offset == offset
        return False


# How long one ``has_record_at`` may take before it is asked again.
HEAD_CHECK_TIMEOUT_S = 30.0


class ReadOffsets(dict[TP, int | None]):
    """Faust's per-partition read offsets, as ``_drain_messages`` sees them: for a topic
    whose records are acked, never above the committed offset (see the module doc)."""

    def __init__(self, consumer: InFlightSafeConsumer) -> None:
        super().__init__()
        self._consumer = consumer

    def __getitem__(self, tp: TP) -> int | None:
        if self._consumer.app.topics.acks_enabled_for(tp.topic):
            return self._consumer._committed_offset[tp]
        return self.get(tp)


@dataclass(frozen=True)
class AckState:
    """What Faust's consumer knows of one partition's acks: the acked offsets not yet
    committed (a list and its index) and the committed offset."""

    acked: list[int]
    index: set[int]
    committed: int | None

    @classmethod
    def of(cls, consumer: InFlightSafeConsumer, tp: TP) -> AckState:
        return cls(
            consumer._acked.get(tp, []),
            consumer._acked_index.get(tp, set()),
            consumer._committed_offset.get(tp),
        )

    def restore(self, consumer: InFlightSafeConsumer, tp: TP) -> None:
        consumer._acked[tp] = self.acked
        consumer._acked_index[tp] = self.index
        consumer._committed_offset[tp] = self.committed

    @staticmethod
    def forget(consumer: InFlightSafeConsumer, tp: TP) -> None:
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)
        consumer._committed_offset.pop(tp, None)


class InFlightSafeConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._abandoned: set[Message] = set()
        self._read_offset = ReadOffsets(self)
        # (tp, offset) sought back to -> whether the broker holds a record there
        self._sought: dict[tuple[TP, int], asyncio.Future[bool]] = {}
        self._seeking: set[asyncio.Future[None]] = set()
        self._revoked_acks: dict[TP, AckState] = {}
        # (tp, offset) in flight when a seek back was made, this assignment (see 7.)
        self._in_flight_when_sought: set[tuple[TP, int]] = set()
        self._deliver = self.callback
        self.callback = self._deliver_unless_processed
        self._app_on_revoked = self._on_partitions_revoked
        self._on_partitions_revoked = self._commit_revoked

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Faust forgets the revoked partitions' acks here, before it calls the app's
        handler that waits for the events in flight and commits (see the module doc, 6.)."""
        lost = self._membership_lost()
        self._revoked_acks = {} if lost else {tp: AckState.of(self, tp) for tp in revoked}
        await super().on_partitions_revoked(revoked)

    def _membership_lost(self) -> bool:
        """Whether aiokafka reset the member's generation: the coordinator did not know it."""
        coordinator = self._thread._ensure_consumer()._coordinator
        return coordinator.generation == OffsetCommitRequest.DEFAULT_GENERATION_ID

    async def _commit_revoked(self, revoked: set[TP]) -> None:
        """The app's revoke handler, with the acks it commits; forgotten after it."""
        for tp, state in self._revoked_acks.items():
            state.restore(self, tp)
        self._revoked_acks = {}
        try:
            await self._app_on_revoked(revoked)
        finally:
            for tp in revoked:
                AckState.forget(self, tp)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """No gaps: the agents' topics have no compaction, and a single missing offset
        (a transaction marker) is still passed over at the committed offset."""

    def abandon_in_flight(self) -> int:
        """Leave every record not yet acked for redelivery; how many there were."""
        in_flight = {m for m in list(self._unacked_messages) if not m.acked}
        for message in in_flight:
            # Both of Faust's ack paths (Python and Cython) skip a message marked acked,
            # so its offset never joins the committable ones.
            message.acked = True
        self._abandoned |= in_flight
        return len(in_flight)

    async def seek_to_committed(self) -> Mapping[TP, int | None]:
        for asking in self._sought.values():
            asking.cancel()
        self._sought.clear()  # a new assignment: what its streams skip is fetched again
        self._in_flight_when_sought.clear()
        committed = await super().seek_to_committed()
        for tp, offset in committed.items():
            if offset is None:  # see the module doc, 4.
                self._committed_offset.pop(ensure_TP(tp), None)
        # aiokafka seeks only to a committed offset above 0 (see the module doc, 3.); the
        # tables' changelogs are never committed and recovery tracks their offsets itself.
        uncommitted = [
            tp
            for tp, offset in committed.items()
            if not offset and self.app.topics.acks_enabled_for(tp.topic)
        ]
        if uncommitted:
            await self._thread.seek_to_beginning(*uncommitted)
        return committed

    def _new_offset(self, tp: TP) -> int | None:
        oldest = oldest_in_flight(tp, self._unacked_messages, self._abandoned)
        committed = self._committed_offset[tp]
        if (
            committed is not None
            and skipped_head(committed, self._acked[tp], oldest)
            and self._still_fetching(tp, committed)
        ):
            return None  # not past it before it is processed again
        if oldest is None:
            return super()._new_offset(tp)
        acked = self._acked[tp]
        later = [offset for offset in acked if offset >= oldest]
        acked[:] = [offset for offset in acked if offset < oldest]
        try:
            return super()._new_offset(tp)
        finally:
            acked.extend(later)  # committable once the record in flight is acked

    def _still_fetching(self, tp: TP, offset: int) -> bool:
        """Whether commits must wait for ``offset``: true unless the broker says it holds
        no record. The first time, seek back to it and ask."""
        holds = self._sought.get((tp, offset))
        if holds is None:
            self._fetch_again(tp, offset)
            return True
        if not holds.done():
            return True
        if holds.cancelled() or holds.exception() is not None:
            self._ask_broker(tp, offset)  # again; the seek is not repeated
            return True
        return holds.result()

    async def _deliver_unless_processed(self, message: Message) -> None:
        """Hand a fetched record to the streams, unless this assignment has processed it or
        is processing it (see the module doc, 7.)."""
        tp, offset = message.tp, message.offset
        if offset in self._acked_index.get(tp, ()) or (tp, offset) in self._in_flight_when_sought:
            return
        await self._deliver(message)

    def _fetch_again(self, tp: TP, offset: int) -> None:
        self.log.warning("%r: offset %d was skipped by its stream; fetching again", tp, offset)
        self._in_flight_when_sought |= {(tp, o) for o in in_flight(tp, self._unacked_messages)}
        self._ask_broker(tp, offset)
        seeking = asyncio.ensure_future(self._seek_in_consumer_thread(tp, offset))
        self._seeking.add(seeking)
        seeking.add_done_callback(self._sought_back)

    async def _seek_in_consumer_thread(self, tp: TP, offset: int) -> None:
        """Faust's ``seek`` calls aiokafka's from this thread, and aiokafka then wakes
        its fetcher with a future of the consumer thread's loop: a loop that is not told
        (``call_soon`` is not thread-safe) can sleep on, and the worker stopped fetching
        for good (a SIGKILL-in-a-backlog run lost 37 requests so). The seek is made on
        the consumer's own thread instead."""

        async def seek() -> None:
            self._thread.seek(tp, offset)

        await self._thread.call_thread(seek)

    def _sought_back(self, seeking: asyncio.Future[None]) -> None:
        self._seeking.discard(seeking)
        if not seeking.cancelled() and (exc := seeking.exception()) is not None:
            # The partition was revoked meanwhile: its next owner reads from the commit.
            self.log.info("seeking back failed: %r", exc)

    def _ask_broker(self, tp: TP, offset: int) -> None:
        self._sought[(tp, offset)] = asyncio.ensure_future(self._holds_record(tp, offset))

    async def _holds_record(self, tp: TP, offset: int) -> bool:
        broker = ";".join(str(url) for url in self.app.conf.broker_consumer)
        try:
            return await asyncio.wait_for(has_record_at(broker, tp, offset), HEAD_CHECK_TIMEOUT_S)
        except Exception:
            self.log.exception("%r: could not tell whether offset %d holds a record", tp, offset)
            raise

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return TunedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TunedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            # Read by AIOKafkaConsumer.start() when it builds its fetcher.
            consumer._fetch_max_wait_ms = wait_ms
        return consumer


class StreamRouterTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[faust_aiokafka.Consumer]] = InFlightSafeConsumer
