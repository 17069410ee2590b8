"""Throughput of the full pipeline against the raw Kafka relay through the same hops.

    nice -n 5 .venv/bin/python bench/throughput.py [--requests 3000]

The simulator answers instantly (latency 0). A request with a known task type takes
three consume->produce hops (requests -admit-> tier.haiku -answer-> completions
-finalize-> results) plus one model call. The baselines, on the same broker in the same
run, relay the same records through three topics: without a model call (the Kafka limit
of this broker and machine), and with one simulator call per record on the middle hop
(what the model call itself costs). Goal: the pipeline reaches 50% of the raw relay.
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
    bench_scenario,
    cpu_seconds,
    create_topics,
    producer,
    stack,
)

from streamrouter.codec import encode
from streamrouter.embedded.stack import SIM_API_KEY, EmbeddedStack

SCENARIO = bench_scenario(0)
WARM_UP = 200
TIMEOUT_S = 180.0


async def run_batch(
    broker_url: str, source: str, sink: str, n: int, tag: str, pids: dict[str, int | None]
) -> dict[str, float]:
    """Send ``WARM_UP`` then ``n`` requests into ``source``; time until ``n`` reach ``sink``."""
    reader = Reader(broker_url, sink)
    await reader.start()
    sending = await producer(broker_url)
    try:
        for i in range(WARM_UP):
            request = bench_request(i, f"{tag}-warm")
            await sending.send(source, value=encode(request), key=request.request_id.encode())
        await reader.wait_for(WARM_UP, TIMEOUT_S)
        values = [bench_request(i, tag) for i in range(n)]
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
        started = time.monotonic()
        for request in values:
            await sending.send(source, value=encode(request), key=request.request_id.encode())
        await sending.flush()
        await reader.wait_for(WARM_UP + n, TIMEOUT_S)
        elapsed = reader.arrivals[-1] - started
        cpu = {
            f"{name}_cpu_ms_per_msg": (cpu_seconds(pid) - cpu_before[name]) * 1000 / n
            for name, pid in pids.items()
            if pid
        }
        return {"per_second": n / elapsed, "seconds": elapsed, **cpu}
    finally:
        await sending.stop()
        await reader.stop()


async def relay_baseline(
    running: EmbeddedStack, n: int, name: str, *extra: str
) -> dict[str, float]:
    topics = [f"bench.{name}.{hop}" for hop in range(4)]
    await create_topics(running.broker_url, topics, PARTITIONS)
    env = {"ANTHROPIC_BASE_URL": running.sim_url, "ANTHROPIC_API_KEY": SIM_API_KEY}
    with Relay(running.broker_url, topics, *extra, env=env) as relay:
        return await run_batch(
            running.broker_url, topics[0], topics[-1], n, name, {"relay": relay.pid}
        )


async def main(n: int, relay_n: int) -> None:
    async with stack(SCENARIO) as running:
        worker = running.workers[0].pid
        raw = await relay_baseline(running, relay_n, "raw")
        with_call = await relay_baseline(running, n, "call", "--model-hop", "1")
        pipeline = await run_batch(
            running.broker_url, "llm.requests", "llm.results", n, "pipeline", {"worker": worker}
        )
    rows = [
        ("raw relay, 3 hops", raw),
        ("relay, 3 hops + 1 model call", with_call),
        ("streamrouter pipeline", pipeline),
    ]
    print(
        f"throughput: {n} requests ({relay_n} through the raw relay), simulator latency 0, "
        f"{PARTITIONS} partitions, 1 worker"
    )
    print(f"{'':32} {'msg/s':>8} {'seconds':>8} {'CPU ms/msg':>11}")
    for label, figures in rows:
        cpu = next((v for k, v in figures.items() if k.endswith("cpu_ms_per_msg")), float("nan"))
        print(f"{label:32} {figures['per_second']:8.0f} {figures['seconds']:8.2f} {cpu:11.2f}")
    ratio = pipeline["per_second"] / raw["per_second"]
    ratio_call = pipeline["per_second"] / with_call["per_second"]
    print(f"pipeline / raw relay:               {ratio:6.1%}  (goal >= 50%)")
    print(f"pipeline / relay with a model call: {ratio_call:6.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--relay-requests", type=int, default=30000, help="the raw relay is fast")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.relay_requests))
