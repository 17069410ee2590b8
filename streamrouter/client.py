"""A small Kafka client for users of the service: publish requests, read results.

Used by ``streamrouter send``/``tail``/``dev`` and by the tests; it is what any Kafka
client would do: produce an Avro (or JSON) request keyed by its ``request_id``, and
read the result topic. Results are read without a consumer group (every partition
assigned, from the beginning or the end), so reading never triggers a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Literal, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import BaseModel

from streamrouter.codec import decode, decode_or_none, encode
from streamrouter.config import Topics
from streamrouter.events import DeadLetter, Feedback, LLMRequest, LLMResult
from streamrouter.kafka_security import KafkaSecurity, load_kafka_security

__all__ = [
    "StreamClient",
    "bootstrap_servers",
    "groupless_consumer",
    "records_up_to",
    "wait_for_partitions",
]

log = logging.getLogger("streamrouter.client")

M = TypeVar("M", bound=BaseModel)


def bootstrap_servers(broker_url: str) -> str:
    """``kafka://h1:9092;kafka://h2:9092`` (Faust's form) -> ``h1:9092,h2:9092``."""
    hosts = [part.strip().removeprefix("kafka://") for part in broker_url.split(";")]
    return ",".join(h for h in hosts if h)


class StreamClient:
    def __init__(
        self, broker_url: str, topics: Topics, security: KafkaSecurity | None = None
    ) -> None:
        self._servers = bootstrap_servers(broker_url)
        # TLS / SASL settings (default: from STREAMROUTER_KAFKA_*), as the worker uses them.
        self._security = (security or load_kafka_security()).aiokafka_kwargs()
        self.topics = topics
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> StreamClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._servers, acks="all", **self._security
            )
            await _started(producer)
            self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(
        self,
        request: LLMRequest,
        encoding: Literal["avro", "json"] = "avro",
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        """Publish a request keyed by its id; ``headers`` may carry a ``traceparent``."""
        if encoding == "avro":
            value = encode(request)
        else:
            value = request.model_dump_json(exclude_none=True).encode()
        await self.send_raw(request.request_id.encode(), value, headers=headers)

    async def send_raw(
        self,
        key: bytes | None,
        value: bytes,
        topic: str | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        assert self._producer is not None, "start() the client first"
        await self._producer.send_and_wait(
            topic or self.topics.requests,
            value=value,
            key=key,
            headers=list((headers or {}).items()) or None,
        )

    async def send_feedback(self, feedback: Feedback) -> None:
        """Publish a verdict on a result to the feedback topic, keyed by its request id."""
        await self.send_raw(feedback.request_id.encode(), encode(feedback), self.topics.feedback)

    def results(self, *, from_beginning: bool = True) -> AsyncIterator[LLMResult]:
        return self._read(self.topics.results, LLMResult, from_beginning)

    def dead_letters(self, *, from_beginning: bool = True) -> AsyncIterator[DeadLetter]:
        return self._read(self.topics.dlq, DeadLetter, from_beginning)

    async def wait_for_results(
        self, request_ids: Iterable[str], timeout: float
    ) -> dict[str, list[LLMResult]]:
        """Every result of these requests, once each has at least one (or TimeoutError)."""
        wanted = set(request_ids)
        found: dict[str, list[LLMResult]] = {}

        async def collect() -> None:
            async for result in self.results():
                if result.request_id in wanted:
                    found.setdefault(result.request_id, []).append(result)
                    if wanted <= found.keys():
                        return

        await asyncio.wait_for(collect(), timeout)
        return found

    async def results_so_far(self) -> list[LLMResult]:
        """Every result already on the topic (up to its end when called), then stop."""
        return [
            decode(value, LLMResult) for value in await self._values_so_far(self.topics.results)
        ]

    async def feedback_so_far(self) -> list[Feedback]:
        """Every verdict already on the feedback topic; none if there is no such topic yet
        (no worker of this version has declared it)."""
        topic = self.topics.feedback
        if not await self._exists(topic):
            return []
        values = await self._values_so_far(topic)
        found = [f for f in (decode_or_none(v, Feedback) for v in values) if f is not None]
        if len(found) < len(values):
            # Anyone may publish there; the report goes on without what it cannot read.
            left_out = len(values) - len(found)
            log.warning("%d records on %s are not Feedback: left out", left_out, topic)
        return found

    async def _values_so_far(self, topic: str) -> list[bytes | None]:
        """The values of every record already on ``topic`` (up to its end when called)."""
        async with self._assigned(topic, from_beginning=True) as consumer:
            ends = await consumer.end_offsets(list(consumer.assignment()))
            return [r.value async for r in records_up_to(consumer, ends)]

    async def _exists(self, topic: str) -> bool:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._servers, **self._security)
        await _started(consumer)
        try:
            metadata = await consumer._client.fetch_all_metadata()  # fresh, not the cache
            return bool(metadata.partitions_for_topic(topic))
        finally:
            await consumer.stop()

    async def _read(self, topic: str, model: type[M], from_beginning: bool) -> AsyncIterator[M]:
        async with self._assigned(topic, from_beginning) as consumer:
            async for record in consumer:
                yield decode(record.value, model)

    @asynccontextmanager
    async def _assigned(self, topic: str, from_beginning: bool) -> AsyncIterator[AIOKafkaConsumer]:
        """A consumer with every partition of ``topic`` assigned (no group, no rebalance)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            **self._security,
        )
        await _started(consumer)
        try:
            partitions = await wait_for_partitions(consumer, topic)
            consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
            if from_beginning:
                await consumer.seek_to_beginning()
            else:
                await consumer.seek_to_end()
            yield consumer
        finally:
            await consumer.stop()


@asynccontextmanager
async def groupless_consumer(broker_url: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer in no group (it commits nothing and causes no rebalance), with
    the security settings of the environment; the caller assigns its partitions."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        enable_auto_commit=False,
        # A broker holds an empty fetch this long (tansu always does); the callers wait
        # for their reads, and aiokafka's default 500 ms doubled a hop's latency.
        fetch_max_wait_ms=10,
        **load_kafka_security().aiokafka_kwargs(),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def records_up_to(
    consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """The records from each partition's position until it reaches its offset in ``ends``."""
    while any([await consumer.position(tp) < end for tp, end in ends.items()]):
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            for record in records:
                yield record


async def _started(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """``client.start()``; stopped again when that fails (a broker that cannot be
    reached), so that it leaves no connection and no "Unclosed" warning behind."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise


async def wait_for_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The topic's partitions; it may not exist until the worker has declared it.

    Asked of fresh metadata each time: ``partitions_for_topic`` answers from the
    consumer's cache, which learns of a topic created after the consumer started only at
    its next refresh (``metadata_max_age_ms``, 5 minutes), and ``topics()`` does not
    update that cache.
    """
    while True:
        metadata = await consumer._client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await asyncio.sleep(0.5)
