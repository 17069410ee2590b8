"""Model calls made twice across rebalances under steady traffic.

    nice -n 5 .venv/bin/python bench/rebalance.py [--runs 5] [--rate 30]

Each run starts its own stack (tansu broker, simulator, one worker with the dev
timings), sends task-typed requests at ``--rate`` per second throughout (one haiku call
of 300 ms each), starts a second worker once 20 results are out (both rebalance), stops
the first with SIGTERM 3 s later (the second takes everything) and, 5 s after that,
stops sending and waits for every result. It prints, per run: lost, duplicated, and the
model calls made again for a request that had been answered already (what a rebalance
cost beyond one call per request). Goal: 0 lost, 0 duplicated, 0 repeated calls.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass

from benchlib import Reader, bench_request, bench_scenario, keep_logs, producer, stack
from crash_backlog import calls_per_request

from streamrouter.codec import encode

LATENCY_MS = 300
SCENARIO = bench_scenario(LATENCY_MS)
JOIN_AFTER = 20  # results before the second worker starts
BOTH_SERVE_S = 3.0
AFTER_LEAVE_S = 5.0


@dataclass(frozen=True)
class RebalanceRun:
    sent: int
    lost: int
    duplicated: int
    repeated_calls: int  # model calls beyond one per request

    def line(self, n: int) -> str:
        return (
            f"run {n:2d}: {self.sent:4d} requests  lost {self.lost:3d}  "
            f"duplicated {self.duplicated:3d}  repeated calls {self.repeated_calls:3d}"
        )


async def rebalance_run(rate: float, timeout_s: float) -> RebalanceRun:
    async with stack(SCENARIO) as running:
        reader = Reader(running.broker_url, "llm.results", decode_results=True)
        await reader.start()
        sending = await producer(running.broker_url)
        tag = f"rebalance-{uuid.uuid4().hex[:6]}"
        sent = 0
        stop = asyncio.Event()

        async def send_steadily() -> None:
            nonlocal sent
            started = time.monotonic()
            while not stop.is_set():
                request = bench_request(sent, tag, f"BENCH {tag} write a commit message")
                await sending.send("llm.requests", encode(request), request.request_id.encode())
                sent += 1
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))

        sender = asyncio.create_task(send_steadily())
        try:
            await reader.wait_for(JOIN_AFTER, timeout_s)
            await asyncio.to_thread(running.start_worker)
            await asyncio.sleep(BOTH_SERVE_S)
            await asyncio.to_thread(running.workers[0].stop)
            await asyncio.sleep(AFTER_LEAVE_S)
            stop.set()
            await sender
            await sending.flush()
            wanted = {f"{tag}-{i}" for i in range(sent)}
            deadline = time.monotonic() + timeout_s
            while not wanted <= reader.results.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(3)  # time for a duplicate to show up
            calls = calls_per_request(running.sim_url, tag)
            if any(c > 1 for c in calls.values()) or not wanted <= reader.results.keys():
                kept = keep_logs(running, tag)
                repeated = sorted(rid for rid, c in calls.items() if c > 1)
                print(f"repeated {repeated[:10]}: the stack's logs are in {kept}", flush=True)
        finally:
            stop.set()
            await sending.stop()
            await reader.stop()
    return RebalanceRun(
        sent=sent,
        lost=len(wanted - reader.results.keys()),
        duplicated=reader.count - len(reader.results),
        repeated_calls=sum(max(0, c - 1) for c in calls.values()),
    )


async def main(runs: int, rate: float, timeout_s: float) -> None:
    print(
        f"{runs} runs: {rate:.0f} requests/s, {LATENCY_MS} ms model calls; a worker joins, "
        "then the first leaves; goal: 0 lost, 0 duplicated, 0 repeated calls",
        flush=True,
    )
    done = []
    for n in range(1, runs + 1):
        run = await rebalance_run(rate, timeout_s)
        done.append(run)
        print(run.line(n), flush=True)
    clean = sum(r.lost == 0 and r.duplicated == 0 for r in done)
    repeated = [r.repeated_calls for r in done]
    print(
        f"clean runs: {clean} of {runs}; repeated calls per run: {repeated} "
        f"(total {sum(repeated)} of {sum(r.sent for r in done)} requests)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=30.0, help="requests per second")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per wait")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.rate, args.timeout))
