"""What a partition's previous owner wrote before it died or gave the partition up.

Without Kafka transactions a stage's output and the commit of the record it came from
are not atomic: a worker killed (or a partition revoked) between the two leaves the
output on its topic and the record uncommitted, and the partition's next owner gets the
record again. Two things tell it what was already done:

- results: finalize publishes a result, then marks the request done in the ledger; the
  results topic knows of a result the ledger may not.
- sources: every record an agent sends names the record it came from in the
  ``streamrouter-source`` header. Budget, classify, answer and synthesize forward
  exactly one record for each they take (the next stage's work, a completion, a fan-in
  event, a dead letter), so that record is the stage's "done" mark, written in the same
  produce as the output itself: a record some output names is not processed again (no
  second paid call, no second copy of its work), and one whose output did not land is.
  Admit asks the same about a request its ledger mark says it admitted before.

So after each assignment the agents read the results and output topics, from the
oldest record they are handed, before calling a model or publishing a result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamrouter.client import groupless_consumer, records_up_to, wait_for_partitions

__all__ = ["SOURCE_HEADER", "PreviousOwner", "Written", "source_of", "written_since"]

log = logging.getLogger("streamrouter.agents")

SOURCE_HEADER = "streamrouter-source"
# Producers' clocks differ: read from a little before the record was written.
CLOCK_SKEW_MS = 60_000
READ_TIMEOUT_S = 30.0
RETRY_PAUSE_S = 1.0


def source_of(topic: str, partition: int, offset: int, timestamp_s: float) -> str:
    """The value of the source header for a record at ``topic[partition]@offset``, written
    at ``timestamp_s``: a topic deleted and created again restarts its offsets at 0."""
    return f"{topic}/{partition}/{offset}/{round(timestamp_s * 1000)}"


@dataclass
class Written:
    """What was written since some time: the request ids of results, and the sources
    of every record on the output topics."""

    result_ids: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)

    def add(self, other: Written) -> None:
        self.result_ids |= other.result_ids
        self.sources |= other.sources


async def written_since(
    broker: str, results_topic: str, output_topics: Collection[str], since_ms: int
) -> Written:
    """The records on ``results_topic`` and ``output_topics`` written at or after ``since_ms``."""
    written = Written()
    async with groupless_consumer(broker) as consumer:
        async with asyncio.timeout(READ_TIMEOUT_S):
            ends = await _seek_to_times(consumer, (results_topic, *output_topics), since_ms)
        # A backlog can take longer than any fixed time to read: only a read that stops
        # making progress is given up.
        idle = asyncio.timeout(READ_TIMEOUT_S)
        async with idle:
            async for r in records_up_to(consumer, ends):
                idle.reschedule(asyncio.get_running_loop().time() + READ_TIMEOUT_S)
                if r.topic == results_topic and r.key:
                    written.result_ids.add(r.key.decode(errors="replace"))
                for name, value in r.headers:
                    if name == SOURCE_HEADER and value is not None:
                        written.sources.add(value.decode(errors="replace"))
    return written


async def _seek_to_times(
    consumer: AIOKafkaConsumer, topics: Collection[str], since_ms: int
) -> dict[TopicPartition, int]:
    """Assign every partition of ``topics``, each at its first record written at or after
    ``since_ms``; the end offsets to read up to."""
    tps = []
    for topic in topics:
        # Fresh metadata, and a topic not there yet is waited for, not taken for empty.
        tps += [TopicPartition(topic, p) for p in await wait_for_partitions(consumer, topic)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
    for tp in tps:
        found = starts.get(tp)
        # None (Kafka) or a negative timestamp (tansu): nothing written since.
        consumer.seek(tp, ends[tp] if found is None or found.timestamp < 0 else found.offset)
    return ends


def read_start_ms(timestamp_s: float) -> int:
    """Where a read must start to see what was written after a record written at
    ``timestamp_s``, by a clock up to the skew behind (never before the epoch)."""
    return max(0, int(timestamp_s * 1000) - CLOCK_SKEW_MS)


class PreviousOwner:
    """What was written before this assignment's records were handed out (see the module
    doc), read once per assignment.

    The topics are read from the oldest record asked about since the assignment (less
    the clock skew), and again only for an older one: every record an agent
    is handed after an assignment is at or after its committed offset, and only what was
    written after such a record can come from it. A read that fails or times out is
    logged and made again after a pause: the agents wait (fail closed), since going on
    without it could repeat a paid call or a result.
    """

    def __init__(self, broker: str, results_topic: str, output_topics: Collection[str]) -> None:
        self._broker = broker
        self._results = results_topic
        self._outputs = tuple(output_topics)
        self._written = Written()
        self._read_since: int | None = None  # what was read is what was written since (ms)
        self._reading = asyncio.Lock()
        self._assignments = 0

    def on_assigned(self) -> None:
        self._assignments += 1
        self._written = Written()
        self._read_since = None

    async def finished(self, request_id: str, timestamp_s: float) -> bool:
        """Whether a result for ``request_id`` was published (a record of the request
        written at ``timestamp_s`` is asking)."""
        return request_id in (await self._since(timestamp_s)).result_ids

    async def processed(self, source: str, timestamp_s: float) -> bool:
        """Whether a record names ``source`` (a record written at ``timestamp_s``) as
        the one it came from."""
        return source in (await self._since(timestamp_s)).sources

    async def _since(self, timestamp_s: float) -> Written:
        if not self._covers(timestamp_s):
            async with self._reading:  # one read at a time; the first may cover the rest
                while not self._covers(timestamp_s):
                    await self._read(timestamp_s)
        return self._written

    def _covers(self, timestamp_s: float) -> bool:
        """Whether what was read covers what was written after a record written at
        ``timestamp_s``, by a clock up to the skew behind."""
        return self._read_since is not None and self._read_since <= read_start_ms(timestamp_s)

    async def _read(self, timestamp_s: float) -> None:
        since_ms = read_start_ms(timestamp_s)
        assignments = self._assignments
        try:
            found = await written_since(self._broker, self._results, self._outputs, since_ms)
        except Exception:
            log.exception("could not read what was written since %d ms; trying again", since_ms)
            await asyncio.sleep(RETRY_PAUSE_S)
            return
        if assignments != self._assignments:
            # Partitions came in during the read: their previous owners' last records may
            # be past the end offsets it took. Read again.
            return
        log.info(
            "since %d ms: %d results published, %d records forwarded",
            since_ms,
            len(found.result_ids),
            len(found.sources),
        )
        self._written.add(found)
        self._read_since = since_ms
