"""What the benchmark scripts share: a stack per run, a fast producer, a result reader,
the raw relay baseline, percentiles and RSS.

Each script starts its own embedded stack (tansu broker, simulator, one worker), measures
the service and a baseline on the same broker in the same run, and prints both and the
ratio. Nothing here is imported by the service.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamrouter.client import bootstrap_servers
from streamrouter.codec import decode, encode
from streamrouter.embedded.process import ManagedProcess
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import LLMRequest, LLMResult, Message

__all__ = [
    "PARTITIONS",
    "Reader",
    "Relay",
    "bench_request",
    "bench_scenario",
    "cpu_seconds",
    "create_topics",
    "keep_logs",
    "percentile",
    "rss_mb",
    "stack",
]

PARTITIONS = 2  # the embedded stack's default (DEV_WORKER_ENV)
RELAY = Path(__file__).with_name("relay.py")


@asynccontextmanager
async def stack(scenario: str, **env: str) -> AsyncIterator[EmbeddedStack]:
    """A started stack whose simulator plays ``scenario`` (YAML); stopped after."""
    directory = Path(tempfile.mkdtemp(prefix="streamrouter-bench-"))
    path = directory / "scenario.yaml"
    path.write_text(scenario)
    (directory / "logs").mkdir()
    running = EmbeddedStack(scenario=path, worker_env=env, log_dir=directory / "logs")
    succeeded = False
    try:
        await asyncio.to_thread(running.start)
        yield running
        succeeded = True
    finally:
        await asyncio.to_thread(running.stop)
        if succeeded:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"the stack's logs are in {directory / 'logs'}", file=sys.stderr)


def keep_logs(running: EmbeddedStack, tag: str) -> Path:
    """A copy of the stack's logs, and the simulator's call log (``calls.json``), that
    outlives it (for a run that missed its goal)."""
    kept = Path(tempfile.mkdtemp(prefix=f"{tag}-logs-"))
    shutil.copytree(running.log_dir, kept, dirs_exist_ok=True)
    with urllib.request.urlopen(f"{running.sim_url}/_sim/calls", timeout=30) as response:
        (kept / "calls.json").write_bytes(response.read())
    return kept


def bench_scenario(latency_ms: int) -> str:
    """A simulator scenario answering every ``bench_request`` confidently (no escalation)
    after ``latency_ms``."""
    return f"""
latency_ms: {latency_ms}
rules:
  - match: "BENCH"
    answer: "fix: handle empty input"
    confidence: 0.95
"""


def bench_request(n: int, tag: str, text: str = "BENCH write a commit message") -> LLMRequest:
    """A request the task map sends straight to haiku (no classifier call)."""
    return LLMRequest(
        request_id=f"{tag}-{n}",
        task_type="commit_message",
        messages=[Message(role="user", content=f"{text} #{n}")],
    )


async def producer(broker_url: str) -> AIOKafkaProducer:
    running = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(broker_url), acks="all", linger_ms=2
    )
    await running.start()
    return running


async def create_topics(broker_url: str, names: Iterable[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(broker_url))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


class Reader:
    """Reads one topic from its end, without a consumer group; records arrival times."""

    def __init__(self, broker_url: str, topic: str, *, decode_results: bool = False) -> None:
        self._servers = bootstrap_servers(broker_url)
        self._topic = topic
        self._decode = decode_results
        self.count = 0
        self.arrivals: list[float] = []  # monotonic time of each record
        self.seen_at: dict[str, float] = {}  # request_id -> monotonic (decode_results)
        self.results: dict[str, LLMResult] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=10,  # the reader must not add latency of its own
        )
        await consumer.start()
        while not consumer.partitions_for_topic(self._topic):
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        partitions = consumer.partitions_for_topic(self._topic) or set()
        consumer.assign([TopicPartition(self._topic, p) for p in sorted(partitions)])
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)  # resolve "end" now, before anything is sent
        self._consumer = consumer
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    self.count += 1
                    self.arrivals.append(now)
                    if self._decode:
                        result = decode(record.value, LLMResult)
                        self.seen_at.setdefault(result.request_id, now)
                        self.results.setdefault(result.request_id, result)

    async def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count:
            if self._task is not None and self._task.done():
                self._task.result()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._topic}: {self.count} of {count} in {timeout}s")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


class Relay:
    """The baseline: ``bench/relay.py`` in its own process, as the worker is."""

    def __init__(
        self,
        broker_url: str,
        topics: Sequence[str],
        *extra: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.topics = list(topics)
        self._process = ManagedProcess(
            "relay",
            [sys.executable, str(RELAY), broker_url, ",".join(topics), *extra],
            ready=r"relay ready",
            env=env,
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def __enter__(self) -> Relay:
        self._process.start(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.stop()


def encoded(request: LLMRequest) -> bytes:
    return encode(request)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
