"""A worker SIGKILLed in a backlog, at production consumer timings: lost, duplicated, and
how long from the kill to the last result.

    nice -n 5 .venv/bin/python bench/crash_backlog.py [--runs 10] [--requests 300]

Each run starts its own stack (tansu broker, simulator, a worker with the settings a
worker started with none gets: session and rebalance timeout 60 s, heartbeat 3 s, 4
partitions), publishes a backlog
of task-typed requests at once (one haiku call of 300 ms each), SIGKILLs the worker once
``--kill-after`` results are out, starts another, and waits for every result. It prints,
per run: lost, duplicated, model calls repeated for a request (and for how many requests
the answers of two calls both reached the completions topic: a call made again although
its answer had been forwarded, which the design promises not to do), and the seconds
from the kill to the last result. Goal: 0 lost and 0 duplicated in every run,
the last result within the session timeout + 60 s of the kill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass

from benchlib import Reader, bench_request, bench_scenario, keep_logs, producer, stack

from streamrouter.codec import encode
from streamrouter.config import Settings
from streamrouter.embedded.stack import DEV_WORKER_ENV, default_env

LATENCY_MS = 300
SCENARIO = bench_scenario(LATENCY_MS)
DEFAULTS = Settings()
RECOVERY_BOUND_S = DEFAULTS.kafka_session_timeout_s + 60  # the goal, from the kill
# What a worker started with no settings gets (the embedded stack's default is dev
# timings): consumer-group timeouts, partitions, model timeout, topic check.
PRODUCTION_ENV = default_env(*DEV_WORKER_ENV)


@dataclass(frozen=True)
class CrashRun:
    lost: int
    duplicated: int
    repeated_calls: int  # model calls beyond one per request
    forwarded_twice: int  # requests with two completions: a forwarded answer's call repeated
    ready_s: float  # from the kill until the new worker said it was ready
    kill_to_last_s: float

    def line(self, n: int) -> str:
        return (
            f"run {n:2d}: lost {self.lost:3d}  duplicated {self.duplicated:3d}  "
            f"repeated calls {self.repeated_calls:3d} (forwarded twice "
            f"{self.forwarded_twice:2d})  new worker ready {self.ready_s:5.1f} s  "
            f"kill -> last result {self.kill_to_last_s:6.1f} s"
        )


def calls_per_request(sim_url: str, tag: str) -> Counter[str]:
    with urllib.request.urlopen(f"{sim_url}/_sim/calls", timeout=30) as response:
        calls = json.load(response)
    counts: Counter[str] = Counter()
    for call in calls:
        text = str(call["last_user"])
        if tag in text:
            counts[text.rsplit("#", 1)[-1]] += 1
    return counts


async def crash_run(requests: int, kill_after: int, timeout_s: float, survivors: int) -> CrashRun:
    async with stack(SCENARIO, **PRODUCTION_ENV) as running:
        for _ in range(survivors):
            await asyncio.to_thread(running.start_worker)
        reader = Reader(running.broker_url, "llm.results", decode_results=True)
        await reader.start()
        completions = Reader(running.broker_url, "llm.completions", decode_results=True)
        await completions.start()
        sending = await producer(running.broker_url)
        tag = f"crash-{uuid.uuid4().hex[:6]}"
        try:
            for i in range(requests):
                request = bench_request(i, tag, f"BENCH {tag} write a commit message")
                await sending.send("llm.requests", encode(request), request.request_id.encode())
            await sending.flush()
            await reader.wait_for(kill_after, timeout_s)
            killed_at = time.monotonic()
            await asyncio.to_thread(running.workers[0].kill)
            await asyncio.to_thread(running.start_worker)
            ready_s = time.monotonic() - killed_at
            wanted = {f"{tag}-{i}" for i in range(requests)}
            deadline = killed_at + timeout_s
            while not wanted <= reader.results.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            last = max(reader.seen_at.values(), default=killed_at)
            await asyncio.sleep(5)  # time for a duplicate to show up
            calls = calls_per_request(running.sim_url, tag)
            late = last - killed_at > RECOVERY_BOUND_S
            if late or not wanted <= reader.results.keys():
                kept = keep_logs(running, tag)
                print(f"lost or late: the stack's logs are in {kept}", flush=True)
        finally:
            await sending.stop()
            await reader.stop()
            await completions.stop()
    return CrashRun(
        lost=len(wanted - reader.results.keys()),
        duplicated=reader.count - len(reader.results),
        repeated_calls=sum(max(0, c - 1) for c in calls.values()),
        forwarded_twice=completions.count - len(completions.results),
        ready_s=ready_s,
        kill_to_last_s=last - killed_at,
    )


async def main(runs: int, requests: int, kill_after: int, timeout_s: float, survivors: int) -> None:
    bound = RECOVERY_BOUND_S
    print(
        f"{runs} runs: {requests} requests published at once, {LATENCY_MS} ms model calls, "
        f"{survivors} other workers, SIGKILL after {kill_after} results; goal: 0 lost, "
        f"0 duplicated, last result within {bound:.0f} s of the kill",
        flush=True,
    )
    done = []
    for n in range(1, runs + 1):
        run = await crash_run(requests, kill_after, timeout_s, survivors)
        done.append(run)
        print(run.line(n), flush=True)
    clean = sum(r.lost == 0 and r.duplicated == 0 for r in done)
    slowest = max(r.kill_to_last_s for r in done)
    print(
        f"clean runs: {clean} of {runs}; slowest kill -> last result {slowest:.1f} s "
        f"(bound {bound:.0f} s): {'met' if clean == runs and slowest <= bound else 'MISSED'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--kill-after", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds after the kill")
    parser.add_argument(
        "--survivors", type=int, default=0, help="workers besides the killed one, from the start"
    )
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.requests, args.kill_after, args.timeout, args.survivors))
