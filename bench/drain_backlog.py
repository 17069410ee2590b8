"""How fast one worker drains a backlog at real model latencies, against the ideal.

    nice -n 5 .venv/bin/python bench/drain_backlog.py [--latency-s 5 20] [--in-flight 1000 2000]

Each configuration starts its own stack (tansu broker, simulator, one worker with the
settings a worker started with none gets: 4 partitions, production consumer timings and
model timeout) with ``STREAMROUTER_MAX_IN_FLIGHT`` set, publishes a backlog of
task-typed requests at once (one haiku call each, no classifier call; by default three
times the in-flight limit) and waits for every result. It prints, per configuration: the
drain time from the first publish to the last result; the ideal, requests / (in-flight /
latency) + latency; their ratio (goal >= 90%); the worker's peak RSS (VmHWM; goal
< 500 MB at 1,000 in flight) and its RSS at rest; the worker's and the simulator's CPU
per request; and the most calls the simulator served at once, and the median at each
call's arrival, which show whether the worker kept its in-flight limit busy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchlib import Reader, bench_request, bench_scenario, cpu_seconds, producer, rss_mb, stack

from streamrouter.codec import encode
from streamrouter.embedded.stack import DEV_WORKER_ENV, default_env

GOAL_RATIO = 0.9
GOAL_RSS_MB = 500.0  # at 1,000 in flight


@dataclass(frozen=True)
class Drain:
    latency_s: float
    in_flight: int
    requests: int
    partitions: int
    drain_s: float
    rest_rss_mb: float
    peak_rss_mb: float
    cpu_ms: float  # worker CPU per request, during the drain
    sim_cpu_ms: float  # simulator CPU per request, during the drain
    sim_max_in_flight: int
    sim_median_in_flight: float

    @property
    def ideal_s(self) -> float:
        return self.requests / (self.in_flight / self.latency_s) + self.latency_s

    @property
    def ratio(self) -> float:
        return self.ideal_s / self.drain_s

    def line(self) -> str:
        return (
            f"{self.latency_s:5.0f} {self.in_flight:6d} {self.partitions:4d} {self.requests:6d} "
            f"{self.drain_s:8.1f} {self.ideal_s:7.1f} {self.ratio:6.0%} "
            f"{self.peak_rss_mb:8.0f} {self.rest_rss_mb:7.0f} "
            f"{self.cpu_ms:6.2f} {self.sim_cpu_ms:6.2f} "
            f"{self.sim_max_in_flight:7d} {self.sim_median_in_flight:7.0f}"
        )


HEADER = (
    "lat_s in_fl parts   reqs  drain_s ideal_s  ratio  peak_MB rest_MB "
    "cpu_ms simcpu sim_max sim_p50"
)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def sim_in_flight(sim_url: str, tag: str) -> list[int]:
    """The simulator's calls in flight as each of this run's calls arrived."""
    with urllib.request.urlopen(f"{sim_url}/_sim/calls", timeout=60) as response:
        calls = json.load(response)
    return [int(call["in_flight"]) for call in calls if tag in str(call["last_user"])]


async def drain(
    latency_s: float, in_flight: int, requests: int, partitions: int, env: dict[str, str]
) -> Drain:
    worker_env = {
        **default_env(*DEV_WORKER_ENV),
        "STREAMROUTER_PARTITIONS": str(partitions),
        "STREAMROUTER_MAX_IN_FLIGHT": str(in_flight),
        **env,
    }
    tag = f"drain-{uuid.uuid4().hex[:6]}"
    backlog = [
        encode(bench_request(i, tag, f"BENCH {tag} commit message")) for i in range(requests)
    ]
    keys = [f"{tag}-{i}".encode() for i in range(requests)]
    timeout_s = 10 * (requests / (in_flight / latency_s) + latency_s) + 120
    async with stack(bench_scenario(round(latency_s * 1000)), **worker_env) as running:
        pid, sim_pid = running.workers[0].pid, running.sim.pid if running.sim else None
        assert pid is not None and sim_pid is not None
        reader = Reader(running.broker_url, "llm.results")
        await reader.start()
        sending = await producer(running.broker_url)
        try:
            rest_rss = rss_mb(pid)
            cpu_before, sim_cpu_before = cpu_seconds(pid), cpu_seconds(sim_pid)
            started = time.monotonic()
            for key, value in zip(keys, backlog, strict=True):
                await sending.send("llm.requests", value, key)
            await sending.flush()
            await reader.wait_for(requests, timeout_s)
            drain_s = reader.arrivals[-1] - started
            cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / requests
            sim_cpu_ms = (cpu_seconds(sim_pid) - sim_cpu_before) * 1000 / requests
            peak_rss = peak_rss_mb(pid)
            seen = await asyncio.to_thread(sim_in_flight, running.sim_url, tag)
        finally:
            await sending.stop()
            await reader.stop()
    return Drain(
        latency_s=latency_s,
        in_flight=in_flight,
        requests=requests,
        partitions=partitions,
        drain_s=drain_s,
        rest_rss_mb=rest_rss,
        peak_rss_mb=peak_rss,
        cpu_ms=cpu_ms,
        sim_cpu_ms=sim_cpu_ms,
        sim_max_in_flight=max(seen, default=0),
        sim_median_in_flight=statistics.median(seen) if seen else 0.0,
    )


async def main(args: argparse.Namespace) -> None:
    env = dict(item.split("=", 1) for item in args.worker_env)
    print(
        f"backlog drain, 1 worker, task-typed requests (one haiku call each); ideal = "
        f"requests / (in-flight / latency) + latency; goals: ratio >= {GOAL_RATIO:.0%}, "
        f"peak RSS < {GOAL_RSS_MB:.0f} MB at 1,000 in flight"
        + (f"; worker env {env}" if env else ""),
        flush=True,
    )
    print(HEADER, flush=True)
    for latency_s in args.latency_s:
        for in_flight in args.in_flight:
            requests = args.requests or 3 * in_flight
            run = await drain(latency_s, in_flight, requests, args.partitions, env)
            print(run.line(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Columns: model latency, in-flight limit, partitions, requests, drain and "
        "ideal seconds, ideal/drain, worker peak and at-rest RSS (MB), worker CPU ms per "
        "request, simulator CPU ms per request, simulator calls in flight (max, median at "
        "arrival).",
    )
    parser.add_argument("--requests", type=int, default=0, help="default: 3 x in-flight")
    parser.add_argument("--latency-s", type=float, nargs="+", default=[5.0, 20.0])
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument(
        "--partitions", type=int, default=4, help="of every topic (a worker's default: 4)"
    )
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra STREAMROUTER_* setting for the worker (repeatable)",
    )
    asyncio.run(main(parser.parse_args()))
