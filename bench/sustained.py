"""Sustained requests per second of one worker when every model call takes 200 ms.

    nice -n 5 .venv/bin/python bench/sustained.py [--in-flight 32] [--requests 4000]

A backlog of requests with a known task type (one haiku call each) is published at
once; the rate is the results' arrival rate between the 20th and 80th percentile of
arrivals (no ramp-up, no tail). The baseline is what the in-flight limit allows:
in-flight / latency (32 / 0.2 s = 160 req/s). Goals: at least 90% of it, and at least
100 req/s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio

from benchlib import Reader, bench_request, bench_scenario, cpu_seconds, percentile, producer, stack

from streamrouter.codec import encode
from streamrouter.embedded.stack import EmbeddedStack

LATENCY_MS = 200
SCENARIO = bench_scenario(LATENCY_MS)
WARM_UP = 100
TIMEOUT_S = 900.0


async def measure_sustained(running: EmbeddedStack, n: int, tag: str = "sustained") -> float:
    """Requests per second one worker sustains against a backlog of ``n``."""
    reader = Reader(running.broker_url, "llm.results")
    await reader.start()
    sending = await producer(running.broker_url)
    try:
        for i in range(WARM_UP):
            request = bench_request(i, f"{tag}-warm")
            await sending.send("llm.requests", encode(request), request.request_id.encode())
        await reader.wait_for(WARM_UP, TIMEOUT_S)
        for i in range(n):
            request = bench_request(i, tag)
            await sending.send("llm.requests", encode(request), request.request_id.encode())
        await sending.flush()
        await reader.wait_for(WARM_UP + n, TIMEOUT_S)
        arrivals = reader.arrivals[WARM_UP:]
        first, last = percentile(arrivals, 20), percentile(arrivals, 80)
        in_window = sum(first <= t <= last for t in arrivals)
        return in_window / (last - first)
    finally:
        await sending.stop()
        await reader.stop()


async def main(in_flight: int, n: int) -> None:
    env = {"STREAMROUTER_MAX_IN_FLIGHT": str(in_flight)}
    async with stack(SCENARIO, **env) as running:
        pid = running.workers[0].pid
        assert pid is not None
        cpu_before = cpu_seconds(pid)
        rate = await measure_sustained(running, n)
        cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / (n + WARM_UP)
    limit = in_flight / (LATENCY_MS / 1000)
    print(f"sustained rate, model latency {LATENCY_MS} ms, in-flight limit {in_flight}, 1 worker")
    print(f"in-flight limit / latency: {limit:8.1f} req/s")
    print(f"sustained:                 {rate:8.1f} req/s   ({rate / limit:.1%} of the limit)")
    print(f"worker CPU:                {cpu_ms:8.2f} ms/request")
    print("goals: >= 90% of the limit and >= 100 req/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    asyncio.run(main(args.in_flight, args.requests))
