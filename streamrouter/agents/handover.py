"""What a partition's previous owner wrote before it died or gave the partition up.

Without Kafka transactions a stage's output and the commit of the record it came from
are not atomic: a worker killed (or a partition revoked) between the two leaves the
output on its topic and the record uncommitted, and the partition's next owner gets the
record again. Two things tell it what was already done:

- results: finalize publishes a result, then marks the request done in the ledger; the
  results topic knows of a result the ledger may not.
- sources: every record an agent sends names the record it came from in the
  ``streamrouter-source`` header. Admit, budget, classify, answer and synthesize forward
  exactly one record for each they take (the next stage's work, a completion, a fan-in
  event, a dead letter), so that record is the stage's "done" mark, written in the same
  produce as the output itself: a record some output names is not processed again (no
  second paid call, no second copy of its work), and one whose output did not land is.

So after each assignment the agents read the results and output topics, from the
oldest record they are handed, before calling a model or publishing a result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from streamrouter.client import groupless_consumer, records_up_to, wait_for_partitions

__all__ = ["SOURCE_HEADER", "PreviousOwner", "Written", "source_of", "written_since"]

log = logging.getLogger("streamrouter.agents")

SOURCE_HEADER = "streamrouter-source"
# Producers' clocks differ: read from a little before the record was written.
CLOCK_SKEW_MS = 60_000
READ_TIMEOUT_S = 30.0
RETRY_PAUSE_S = 1.0


def source_of(topic: str, partition: int, offset: int) -> str:
    """The value of the source header for a record at ``topic[partition]@offset``."""
    return f"{topic}/{partition}/{offset}"


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
        tps = []
        for topic in (results_topic, *output_topics):
            # Fresh metadata, and a topic not there yet is waited for, not taken for empty.
            tps += [TopicPartition(topic, p) for p in await wait_for_partitions(consumer, topic)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        for tp in tps:
            found = starts.get(tp)
            # None (Kafka) or a negative timestamp (tansu): nothing written since.
            consumer.seek(tp, ends[tp] if found is None or found.timestamp < 0 else found.offset)
        async for r in records_up_to(consumer, ends):
            if r.topic == results_topic and r.key:
                written.result_ids.add(r.key.decode(errors="replace"))
            for name, value in r.headers:
                if name == SOURCE_HEADER:
                    written.sources.add(value.decode(errors="replace"))
    return written


class PreviousOwner:
    """What was written before this assignment's records were handed out (see the module
    doc), read once per assignment.

    The topics are read from the oldest record asked about since the assignment (less
    the clock skew), and again only for a record older than that: every record an agent
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
        """Whether what was read covers a record written at ``timestamp_s``."""
        return self._read_since is not None and self._read_since <= timestamp_s * 1000

    async def _read(self, timestamp_s: float) -> None:
        since_ms = max(0, int(timestamp_s * 1000) - CLOCK_SKEW_MS)
        assignments = self._assignments
        try:
            found = await asyncio.wait_for(
                written_since(self._broker, self._results, self._outputs, since_ms),
                READ_TIMEOUT_S,
            )
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
