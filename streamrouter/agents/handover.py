"""Results a partition's previous owner published just before it died.

Finalize publishes a result, then marks the request done in the ledger. Without Kafka
transactions the two writes are not atomic: a worker killed between them leaves a
result on the results topic and a ledger that does not say so. The partition's next
owner would redo the request's records (a second model call) and publish a second
result. So after each assignment the agents also ask the results topic, read from
the oldest record they are handed, before calling a model or publishing a result.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition

from streamrouter.client import groupless_consumer, records_up_to, wait_for_partitions

__all__ = ["FinishedByPreviousOwner", "result_ids_since"]

log = logging.getLogger("streamrouter.agents")

# Producers' clocks differ: read from a little before the record was written.
CLOCK_SKEW_MS = 60_000
READ_TIMEOUT_S = 30.0
RETRY_PAUSE_S = 1.0


async def result_ids_since(broker: str, topic: str, since_ms: int) -> set[str]:
    """The keys (request ids) of the records on ``topic`` written at or after ``since_ms``."""
    async with groupless_consumer(broker) as consumer:
        # Fresh metadata, and a topic not there yet is waited for, not taken for empty.
        tps = [TopicPartition(topic, p) for p in await wait_for_partitions(consumer, topic)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        for tp in tps:
            found = starts.get(tp)
            # None (Kafka) or a negative timestamp (tansu): nothing written since.
            consumer.seek(tp, ends[tp] if found is None or found.timestamp < 0 else found.offset)
        return {
            r.key.decode(errors="replace") async for r in records_up_to(consumer, ends) if r.key
        }


class FinishedByPreviousOwner:
    """The request ids that already have a result, per assignment (see the module doc).

    The results topic is read from the oldest record asked about since the assignment
    (less the clock skew), and again only for a record older than that: every
    record an agent is handed after an assignment is at or after its committed offset,
    and only results published after such a record was written can be for it. A read
    that fails or times out is logged and made again after a pause: the agents wait
    (fail closed), since going on without it could repeat a paid call or a result.
    """

    def __init__(self, broker: str, results_topic: str) -> None:
        self._broker = broker
        self._topic = results_topic
        self._ids: set[str] = set()
        self._read_since: int | None = None  # the results read are those since (ms)
        self._reading = asyncio.Lock()
        self._assignments = 0

    def on_assigned(self) -> None:
        self._assignments += 1
        self._ids.clear()
        self._read_since = None

    async def finished(self, request_id: str, timestamp_s: float) -> bool:
        if not self._covers(timestamp_s):
            async with self._reading:  # one read at a time; the first may cover the rest
                while not self._covers(timestamp_s):
                    await self._read(timestamp_s)
        return request_id in self._ids

    def _covers(self, timestamp_s: float) -> bool:
        """Whether what was read covers a record written at ``timestamp_s``."""
        return self._read_since is not None and self._read_since <= timestamp_s * 1000

    async def _read(self, timestamp_s: float) -> None:
        since_ms = max(0, int(timestamp_s * 1000) - CLOCK_SKEW_MS)
        assignments = self._assignments
        try:
            found = await asyncio.wait_for(
                result_ids_since(self._broker, self._topic, since_ms), READ_TIMEOUT_S
            )
        except Exception:
            log.exception("could not read %s since %d ms; trying again", self._topic, since_ms)
            await asyncio.sleep(RETRY_PAUSE_S)
            return
        if assignments != self._assignments:
            # Partitions came in during the read: their previous owners' last results may
            # be past the end offsets it took. Read again.
            return
        log.info("%d results published since %d ms", len(found), since_ms)
        self._ids |= found
        self._read_since = since_ms
