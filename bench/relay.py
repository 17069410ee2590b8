"""The raw Kafka baseline: consume each record of topic i and produce it to topic i+1.

    python bench/relay.py kafka://127.0.0.1:9092 t0,t1,t2,t3 [--model-hop 1 --in-flight 32]

One process, one consumer (all partitions of every topic but the last assigned, offsets
committed every few seconds, as a consumer group member would; the fetch wait Faust
uses, 1.5 s, unless ``--fetch-max-wait-ms``), one producer: the least work a router
through the same hops could do. With ``--model-hop N`` the records of hop N
each wait on one call to the simulated Messages API first (through the same ``anthropic``
SDK, ``ANTHROPIC_BASE_URL``), ``--in-flight`` at a time: the relay with the model call
but none of the service's work.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys

import anthropic
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamrouter.client import bootstrap_servers


async def relay(
    broker_url: str,
    topics: list[str],
    model_hop: int | None,
    in_flight: int,
    fetch_max_wait_ms: int,
) -> None:
    servers = bootstrap_servers(broker_url)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        fetch_max_wait_ms=fetch_max_wait_ms,
        group_id="bench-relay",
        enable_auto_commit=True,
        auto_commit_interval_ms=2800,  # Faust's commit interval
        auto_offset_reset="latest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()
    client = anthropic.AsyncAnthropic(max_retries=2) if model_hop is not None else None
    slots = asyncio.Semaphore(in_flight)
    next_topic = dict(itertools.pairwise(topics))
    assigned = []
    for topic in topics[:-1]:
        while not consumer.partitions_for_topic(topic):
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        assigned += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(assigned)
    await consumer.seek_to_end()
    for tp in assigned:
        await consumer.position(tp)
    print("relay ready", flush=True)

    async def call_then_forward(topic: str, key: bytes | None, value: bytes) -> None:
        assert client is not None
        async with slots:
            try:
                await client.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=256,
                    messages=[{"role": "user", "content": "BENCH relay"}],
                )
            except anthropic.APIError as exc:  # forwarded anyway, so the count completes
                print(f"relay: model call failed: {exc!r}", file=sys.stderr, flush=True)
        await producer.send(topic, value=value, key=key)

    tasks: set[asyncio.Task[None]] = set()
    while True:
        batch = await consumer.getmany(timeout_ms=100, max_records=1000)
        for tp, records in batch.items():
            target = next_topic[tp.topic]
            for record in records:
                if model_hop is not None and topics.index(tp.topic) == model_hop:
                    task = asyncio.create_task(call_then_forward(target, record.key, record.value))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                else:
                    await producer.send(target, value=record.value, key=record.key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("broker_url")
    parser.add_argument("topics", help="comma-separated: the first is read, the last written")
    parser.add_argument("--model-hop", type=int, default=None)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--fetch-max-wait-ms", type=int, default=1500, help="Faust's value")
    args = parser.parse_args()
    topics = args.topics.split(",")
    asyncio.run(
        relay(args.broker_url, topics, args.model_hop, args.in_flight, args.fetch_max_wait_ms)
    )


if __name__ == "__main__":
    main()
