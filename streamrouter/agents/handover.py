"""Results a partition's previous owner published just before it died.

Finalize publishes a result, then marks the request done in the ledger. Without Kafka
transactions the two writes are not atomic: a worker killed between them leaves a
result on the results topic and a ledger that does not say so, and the next owner of
the completion would publish a second result. So after each partition assignment,
finalize reads the request ids on the results topic since the first completion it
is handed on each partition (a previous owner can only have finalized records from
there on), and treats those as done.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamrouter.client import bootstrap_servers
from streamrouter.kafka_security import load_kafka_security

__all__ = ["FinishedByPreviousOwner", "result_ids_since"]

log = logging.getLogger("streamrouter.agents")

# Producers' clocks differ: read from a little before the completion was written.
CLOCK_SKEW_MS = 60_000
READ_TIMEOUT_S = 30.0


async def result_ids_since(broker: str, topic: str, since_ms: int) -> set[str]:
    """The keys (request ids) of the records on ``topic`` written at or after ``since_ms``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker),
        enable_auto_commit=False,
        **load_kafka_security().aiokafka_kwargs(),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:
            return set()
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        for tp in tps:
            found = starts.get(tp)
            # None (Kafka) or a negative timestamp (tansu): nothing written since.
            consumer.seek(tp, ends[tp] if found is None or found.timestamp < 0 else found.offset)
        return await _keys_until(consumer, ends)
    finally:
        await consumer.stop()


async def _keys_until(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> set[str]:
    keys: set[str] = set()
    pending = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    deadline = time.monotonic() + READ_TIMEOUT_S
    while pending:
        if time.monotonic() > deadline:
            log.warning("read of %s stopped after %.0fs, short of its end", pending, READ_TIMEOUT_S)
            break
        batches = await consumer.getmany(*pending, timeout_ms=1000)
        for tp, records in batches.items():
            keys.update(r.key.decode(errors="replace") for r in records if r.key)
            if records and records[-1].offset + 1 >= ends[tp]:
                pending.discard(tp)
    return keys


class FinishedByPreviousOwner:
    """The request ids that already have a result, per assignment (see the module doc)."""

    def __init__(self, broker: str, results_topic: str) -> None:
        self._broker = broker
        self._topic = results_topic
        self._ids: set[str] = set()

    def on_assigned(self) -> None:
        self._ids.clear()

    async def load(self, partition: int, first_timestamp_s: float) -> None:
        """Read what was published since the first completion handed over on ``partition``."""
        since_ms = int(first_timestamp_s * 1000) - CLOCK_SKEW_MS
        found = await result_ids_since(self._broker, self._topic, since_ms)
        log.info("partition %d taken over: %d results published since then", partition, len(found))
        self._ids |= found

    def finished(self, request_id: str) -> bool:
        return request_id in self._ids
