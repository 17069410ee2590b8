"""Worker memory (RSS) at rest and under sustained load.

    nice -n 5 .venv/bin/python bench/memory.py [--minutes 1] [--rate 100] [--ledger-ttl-s 120]

Every model call takes 200 ms in the simulator. After a warm-up the worker rests for
10 s (RSS at rest), then takes ``--rate`` requests per second for ``--minutes`` (10 for
the real figure), RSS sampled every 5 s. The growth trend is the least-squares slope of
RSS over the second half of the load. Goals: under 250 MB, and no growth trend. The
ledger remembers each finished request for ``--ledger-ttl-s`` (``STREAMROUTER_LEDGER_TTL_S``;
the service's default is an hour, which a 10-minute run would never reach): past it,
memory holds a steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from benchlib import Reader, bench_request, producer, rss_mb, stack
from sustained import LATENCY_MS, SCENARIO

from streamrouter.codec import encode

SAMPLE_EVERY_S = 5.0
REST_S = 10.0


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    times = [t for t, _ in samples]
    values = [v for _, v in samples]
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    var = sum((t - mean_t) ** 2 for t in times)
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return cov / var * 60 if var else 0.0


async def main(minutes: float, rate: float, ledger_ttl_s: float) -> None:
    async with stack(SCENARIO, STREAMROUTER_LEDGER_TTL_S=str(ledger_ttl_s)) as running:
        pid = running.workers[0].pid
        assert pid is not None
        reader = Reader(running.broker_url, "llm.results")
        await reader.start()
        sending = await producer(running.broker_url)
        try:
            for i in range(100):
                request = bench_request(i, "memory-warm")
                await sending.send("llm.requests", encode(request), request.request_id.encode())
            await reader.wait_for(100, 120)
            rest = []
            for _ in range(int(REST_S)):
                await asyncio.sleep(1)
                rest.append(rss_mb(pid))
            samples: list[tuple[float, float]] = []
            started = time.monotonic()
            next_sample = started
            total = int(rate * minutes * 60)
            for i in range(total):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                request = bench_request(i, "memory")
                await sending.send("llm.requests", encode(request), request.request_id.encode())
                if time.monotonic() >= next_sample:
                    samples.append((time.monotonic() - started, rss_mb(pid)))
                    next_sample += SAMPLE_EVERY_S
            await sending.flush()
            await reader.wait_for(100 + total, 300)
            samples.append((time.monotonic() - started, rss_mb(pid)))
        finally:
            await sending.stop()
            await reader.stop()
    at_rest = statistics.median(rest)
    peak = max(v for _, v in samples)
    second_half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    print(
        f"worker RSS, model latency {LATENCY_MS} ms, {rate:.0f} req/s for {minutes:g} min "
        f"({total} requests, all answered), ledger TTL {ledger_ttl_s:g} s"
    )
    print(f"at rest:                    {at_rest:7.1f} MB")
    print(f"under load, peak:           {peak:7.1f} MB   (goal < 250 MB)")
    print(f"under load, at the end:     {samples[-1][1]:7.1f} MB")
    print(f"trend, second half of load: {slope_per_minute(second_half):+7.2f} MB/min")
    print("samples (s, MB): " + ", ".join(f"{t:.0f}:{v:.0f}" for t, v in samples))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--ledger-ttl-s", type=float, default=120.0)
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.rate, args.ledger_ttl_s))
