"""Fault tests: each test owns an embedded stack (broker, simulator, workers) and breaks it.

The stacks are separate processes, as in production. Helpers here send requests, follow
the result and dead-letter topics live (each record with the time it was seen), and
read the simulator's call log, so a test can tell a lost request, a duplicate result
and a model call made for a request that had already finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import murmur2

from streamrouter.client import StreamClient
from streamrouter.config import Topics
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import DeadLetter, LLMRequest, LLMResult, Message

PARTITIONS = 2
TOPICS = Topics(prefix="llm.")

MakeStack = Callable[..., EmbeddedStack]


def start_stack(directory: Path, scenario: str, **env: str) -> EmbeddedStack:
    """A started stack whose simulator plays ``scenario`` (YAML text); files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "scenario.yaml"
    path.write_text(scenario)
    log_dir = directory / "logs"
    log_dir.mkdir(exist_ok=True)
    worker_env = {"STREAMROUTER_PARTITIONS": str(PARTITIONS), **env}
    stack = EmbeddedStack(scenario=path, worker_env=worker_env, log_dir=log_dir)
    stack.start()
    return stack


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[MakeStack]:
    """``make_stack(scenario_yaml, **worker_env)``: a started stack, stopped after the test."""
    stacks: list[EmbeddedStack] = []

    def make(scenario: str, **env: str) -> EmbeddedStack:
        stack = start_stack(tmp_path / f"stack-{len(stacks)}", scenario, **env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def partition_of(key: bytes) -> int:
    """The partition Kafka's default partitioner picks for ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def id_on_partition(partition: int, prefix: str) -> str:
    for n in range(1000):
        candidate = f"{prefix}-{n}"
        if partition_of(candidate.encode()) == partition:
            return candidate
    raise AssertionError("no id found")


def new_request(marker: str, request_id: str | None = None, **fields: Any) -> LLMRequest:
    """A request whose prompt carries ``marker`` and ``[<request_id>]``."""
    request_id = request_id or f"{marker.lower()}-{uuid.uuid4().hex[:10]}"
    text = str(fields.pop("text", "please help"))
    return LLMRequest(
        request_id=request_id,
        messages=[Message(role="user", content=f"{marker} [{request_id}] {text}")],
        **fields,
    )


def sim_calls(stack: EmbeddedStack) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{stack.sim_url}/_sim/calls", timeout=30) as response:
        calls: list[dict[str, Any]] = json.load(response)
    return calls


def calls_by_request(
    calls: Iterable[Mapping[str, Any]], request_ids: Iterable[str]
) -> dict[str, list[Mapping[str, Any]]]:
    """The simulator's calls for each request, found by the ``[<request_id>]`` in prompts."""
    wanted = set(request_ids)
    found: dict[str, list[Mapping[str, Any]]] = {rid: [] for rid in wanted}
    for call in calls:
        text = str(call["last_user"])
        start = text.find("[")
        while start != -1:
            end = text.find("]", start)
            if end == -1:
                break
            rid = text[start + 1 : end]
            if rid in wanted:
                found[rid].append(call)
                break
            start = text.find("[", start + 1)
    return found


@dataclass
class Follower:
    """Follows the results and dead-letter topics from the beginning, in the background.

    ``results[request_id]`` lists every result seen for the id; ``seen_at[request_id]`` is
    when the first one was read (epoch seconds): the request had finished by then.
    """

    client: StreamClient
    results: dict[str, list[LLMResult]] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)
    dead: dict[bytes | None, list[DeadLetter]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> Follower:
        self._tasks = [
            asyncio.create_task(self._follow_results()),
            asyncio.create_task(self._follow_dead_letters()),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow_results(self) -> None:
        async for result in self.client.results():
            self.results.setdefault(result.request_id, []).append(result)
            self.seen_at.setdefault(result.request_id, time.time())

    async def _follow_dead_letters(self) -> None:
        async for letter in self.client.dead_letters():
            self.dead.setdefault(letter.key, []).append(letter)

    async def wait_for(
        self, done: Callable[[], bool], timeout: float, what: str | Callable[[], str] = "it"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            for task in self._tasks:
                if task.done():
                    task.result()  # a follower that died says why
            if time.monotonic() > deadline:
                described = what() if callable(what) else what
                raise AssertionError(f"timed out after {timeout}s waiting for {described}")
            await asyncio.sleep(0.05)

    async def wait_for_results(self, request_ids: Iterable[str], timeout: float) -> None:
        wanted = set(request_ids)
        await self.wait_for(
            lambda: wanted <= self.results.keys(),
            timeout,
            lambda: f"results of {len(wanted)} requests (missing: {self.missing_sample(wanted)})",
        )

    async def settle(self, request_ids: Iterable[str], timeout: float, quiet_s: float) -> None:
        """Wait until every request has a result (at most ``timeout``), then ``quiet_s``
        more for duplicates. Does not fail: the scenario's tests judge what it left."""
        with contextlib.suppress(AssertionError):
            await self.wait_for_results(request_ids, timeout)
        await asyncio.sleep(quiet_s)

    def missing_sample(self, wanted: set[str]) -> str:
        missing = sorted(wanted - self.results.keys())
        return f"{len(missing)}, e.g. {missing[:5]}"


@dataclass
class Outcome:
    """What a fault scenario left behind, for the tests that check it."""

    request_ids: list[str]
    results: dict[str, list[LLMResult]]
    seen_at: dict[str, float]
    calls: list[dict[str, Any]]
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def capture(
        cls, stack: EmbeddedStack, follower: Follower, request_ids: Iterable[str], **notes: Any
    ) -> Outcome:
        ids = list(request_ids)
        results = {rid: list(follower.results.get(rid, [])) for rid in ids}
        seen_at = {rid: follower.seen_at[rid] for rid in ids if rid in follower.seen_at}
        return cls(ids, results, seen_at, sim_calls(stack), notes)

    def exactly_once_problems(self) -> dict[str, Any]:
        """Lost and duplicated results (empty when every request has exactly one)."""
        lost = [rid for rid in self.request_ids if not self.results[rid]]
        duplicated = {rid: len(r) for rid, r in self.results.items() if len(r) > 1}
        return {k: v for k, v in (("lost", lost), ("duplicated", duplicated)) if v}

    def calls_after_finish(self) -> dict[str, list[str]]:
        """Model calls that started after the request's result had been read."""
        late: dict[str, list[str]] = {}
        for rid, made in calls_by_request(self.calls, self.request_ids).items():
            finished = self.seen_at.get(rid)
            for call in made:
                if finished is not None and float(call["at"]) > finished:
                    late.setdefault(rid, []).append(
                        f"{call['kind']} {call['model']} +{float(call['at']) - finished:.2f}s"
                    )
        return late

    def calls_for(self, request_id: str) -> list[Mapping[str, Any]]:
        return calls_by_request(self.calls, [request_id])[request_id]


def worker_rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def send_all(client: StreamClient, requests: Iterable[LLMRequest]) -> list[str]:
    """Publish every request; their ids."""
    ids = []
    for request in requests:
        await client.send(request)
        ids.append(request.request_id)
    return ids


async def send_steadily(
    client: StreamClient,
    make: Callable[[int], LLMRequest],
    per_second: float,
    stop: asyncio.Event,
    sent: list[str],
) -> None:
    """Publish ``make(n)`` at ``per_second`` until ``stop`` is set, appending ids to ``sent``."""
    started = time.monotonic()
    while not stop.is_set():
        request = make(len(sent))
        await client.send(request)
        sent.append(request.request_id)
        delay = started + len(sent) / per_second - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


def mixed_request(n: int, marker: str = "FAULT-MIX") -> LLMRequest:
    """The n-th of a mix of routes: classifier, task map to haiku, to opus, escalation."""
    match n % 4:
        case 0:
            return new_request(marker)
        case 1:
            return new_request(marker, task_type="summarize")
        case 2:
            return new_request(marker, task_type="code_review")
        case _:
            return new_request(f"{marker}-ESC", task_type="summarize")


MIXED_RULES = """
  - match: "FAULT-MIX-ESC"
    model: "claude-haiku-*"
    confidence: 0.3
  - match: "FAULT-MIX"
    complexity: medium
    confidence: 0.95
"""
