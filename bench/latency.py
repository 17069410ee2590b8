"""Latency the service adds on top of model time, at half the sustained rate.

    nice -n 5 .venv/bin/python bench/latency.py [--seconds 30] [--warm-up 5] [--sustained R]

Every model call takes 200 ms in the simulator. The sustained rate is measured first
(as ``bench/sustained.py`` does) unless ``--sustained`` is given; then requests are published
at half of it, one at a time on a fixed schedule, and each one's end-to-end latency is
taken from just before it is published to when its result is read. Added latency is
end-to-end minus the 200 ms model time (and, second figure, minus the model call as the
worker timed it, which also excludes the SDK's HTTP round trip). The baseline is the raw
relay (3 hops, no model call) at the same rate on the same broker: the Kafka part.
Before that, ``--warm-up`` seconds at the same rate are printed but not counted: with
``--sustained`` they are a new worker's first requests, which pay once for its first
model connection, its first sends to each topic and its first hand-over read.
Goal: p99 of the added latency under 50 ms. ``--worker-fetch-wait-ms N`` sets the worker's
consumer fetch wait (``STREAMROUTER_FETCH_MAX_WAIT_MS``; tansu holds an empty fetch for all
of it, so on the embedded broker it adds to every hop).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchlib import (
    PARTITIONS,
    Reader,
    Relay,
    bench_request,
    create_topics,
    percentile,
    producer,
    stack,
)
from sustained import LATENCY_MS, SCENARIO, measure_sustained

from streamrouter.codec import encode
from streamrouter.embedded.stack import EmbeddedStack

TIMEOUT_S = 120.0


async def paced(
    broker_url: str, source: str, sink: str, rate: float, seconds: float, tag: str
) -> tuple[dict[str, float], Reader]:
    """Publish at ``rate`` for ``seconds``; when each was sent (monotonic), and the reader."""
    reader = Reader(broker_url, sink, decode_results=sink == "llm.results")
    await reader.start()
    sending = await producer(broker_url)
    sent: dict[str, float] = {}
    try:
        started = time.monotonic()
        for i in range(int(rate * seconds)):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            request = bench_request(i, tag)
            sent[request.request_id] = time.monotonic()
            await sending.send_and_wait(source, encode(request), request.request_id.encode())
        await reader.wait_for(len(sent), TIMEOUT_S)
        if reader.results:  # results: wait for each id (a count could include others)
            deadline = time.monotonic() + TIMEOUT_S
            while not sent.keys() <= reader.seen_at.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            missing = sorted(sent.keys() - reader.seen_at.keys())
            if missing:
                print(f"WARNING: {len(missing)} results missing, e.g. {missing[:3]}")
    finally:
        await sending.stop()
        await reader.stop()
    return sent, reader


def end_to_end_ms(sent: dict[str, float], reader: Reader) -> list[float]:
    return [(reader.seen_at[rid] - at) * 1000 for rid, at in sent.items() if rid in reader.seen_at]


def summary(values_ms: list[float]) -> str:
    return f"p50 {percentile(values_ms, 50):7.1f} ms   p99 {percentile(values_ms, 99):7.1f} ms"


async def relay_latency(
    running: EmbeddedStack, rate: float, seconds: float, fetch_max_wait_ms: int
) -> list[float]:
    topics = [f"bench.latency{fetch_max_wait_ms}.{hop}" for hop in range(4)]
    await create_topics(running.broker_url, topics, PARTITIONS)
    with Relay(running.broker_url, topics, "--fetch-max-wait-ms", str(fetch_max_wait_ms)):
        sent, reader = await paced(
            running.broker_url, topics[0], topics[-1], rate, seconds, "relay"
        )
    # The relay keeps order per partition but the reader cannot tell records apart
    # cheaply; arrivals sorted against sends sorted is exact for a FIFO path.
    return [
        (a - s) * 1000 for a, s in zip(sorted(reader.arrivals), sorted(sent.values()), strict=True)
    ]


async def main(
    seconds: float, warm_up_s: float, sustained_rate: float | None, fetch_wait_ms: int | None
) -> None:
    env = {}
    if fetch_wait_ms is not None:
        env = {"STREAMROUTER_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)}
    async with stack(SCENARIO, **env) as running:
        sustained = sustained_rate or await measure_sustained(running, 2000, "latency-rate")
        half = sustained / 2
        relay = await relay_latency(running, half, min(seconds, 15), 1500)
        relay_short_wait = await relay_latency(running, half, min(seconds, 15), 10)
        warm_up = await paced(
            running.broker_url, "llm.requests", "llm.results", half, warm_up_s, "warm-up"
        )
        sent, reader = await paced(
            running.broker_url, "llm.requests", "llm.results", half, seconds, "latency"
        )
    added = [ms - LATENCY_MS for ms in end_to_end_ms(*warm_up)]
    print(f"warm-up, first {warm_up_s:g} s (not counted): added {summary(added)}")
    sent = {rid: at for rid, at in sent.items() if rid in reader.seen_at}  # answered ones
    e2e = end_to_end_ms(sent, reader)
    over_model = [ms - LATENCY_MS for ms in e2e]
    outside_calls = [
        (reader.seen_at[rid] - at) * 1000 - sum(a.latency_ms for a in reader.results[rid].attempts)
        for rid, at in sent.items()
    ]
    fetch_wait = f"{fetch_wait_ms} ms" if fetch_wait_ms is not None else "the default"
    print(
        f"latency at {half:.0f} req/s (half of {sustained:.0f} sustained), "
        f"model latency {LATENCY_MS} ms, {len(sent)} requests, worker fetch wait {fetch_wait}"
    )
    print(f"end to end:                          {summary(e2e)}")
    print(f"added over the 200 ms model time:    {summary(over_model)}   (goal p99 < 50 ms)")
    print(f"outside the worker's model calls:    {summary(outside_calls)}")
    print(f"raw relay, 3 hops, same rate:        {summary(relay)}   (fetch wait 1500 ms)")
    print(f"raw relay, fetch wait 10 ms:         {summary(relay_short_wait)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--warm-up", type=float, default=5, help="seconds at the same rate first, not counted"
    )
    parser.add_argument("--sustained", type=float, default=None, help="skip measuring it")
    parser.add_argument(
        "--worker-fetch-wait-ms",
        type=int,
        default=None,
        help="the worker's consumer fetch wait (STREAMROUTER_FETCH_MAX_WAIT_MS)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.warm_up, args.sustained, args.worker_fetch_wait_ms))
