"""``streamrouter dev``: the embedded stack, sample requests for every pattern, a table.

Once the stack is up, the demo checks that the worker declared the service's topics,
and from then on watches the stack: if any of its processes exits, the command says
which, prints the end of its log, stops the rest and exits with code 1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from streamrouter.admin import (
    TopicAdmin,
    TopicReport,
    TopicSpec,
    check_topics,
    format_reports,
    load_topic_settings,
    plan_topics,
)
from streamrouter.client import StreamClient
from streamrouter.config import load_policy
from streamrouter.embedded.process import ManagedProcess, ProcessDiedError
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import DeadLetter, LLMRequest, LLMResult, Message

__all__ = [
    "SAMPLES",
    "TopicsNotReadyError",
    "format_table",
    "run_demo",
    "run_watched",
    "wait_for_death",
    "wait_for_topics",
]

RESULT_TIMEOUT_S = 180.0
TOPICS_TIMEOUT_S = 30.0
POLL_S = 0.5

Progress = Callable[[str], None]


class TopicsNotReadyError(RuntimeError):
    """The worker is up but the service's topics are missing."""


# (label, request fields): each sample meets one rule of the demo scenario.
SAMPLES: list[tuple[str, dict[str, object]]] = [
    ("task map", {"task_type": "commit_message", "text": "Write a commit message: empty input"}),
    ("classifier: simple", {"text": "What is the capital of France?"}),
    ("classifier: hard", {"text": "HARD: design a multi-region rate limiter with quotas."}),
    ("escalation", {"task_type": "summarize", "text": "UNSURE: why does this test flake?"}),
    ("escalation x2", {"tier": "haiku", "text": "DEEP: prove the scheduler terminates."}),
    ("fallback", {"task_type": "architecture", "text": "BUSY: review this service layout."}),
    ("all models down", {"tier": "haiku", "text": "OUTAGE: summarise the incident."}),
    ("task_type typo", {"task_type": "comit_message", "text": "Commit message for a typo fix"}),
    ("orchestrated", {"mode": "orchestrate", "text": "Compare three brokers and pick one."}),
]


def build_samples(run: str) -> list[tuple[str, LLMRequest]]:
    samples = []
    for index, (label, fields) in enumerate(SAMPLES):
        fields = dict(fields)
        text = str(fields.pop("text"))
        request = LLMRequest(
            request_id=f"demo-{run}-{index}",
            messages=[Message(role="user", content=text)],
            **fields,  # type: ignore[arg-type]
        )
        samples.append((label, request))
    return samples


async def run_demo(*, scenario: Path | None, kafka_port: int, serve: bool) -> None:
    scenario = scenario or _packaged_demo_scenario()
    stack = EmbeddedStack(scenario=scenario, kafka_port=kafka_port)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    try:
        await asyncio.to_thread(stack.start, progress)
        await run_watched(stack, _demo(stack, progress, serve))
    except (ProcessDiedError, TopicsNotReadyError) as exc:
        print(f"\nstreamrouter dev: {exc}\nstopping the stack", flush=True)
        raise SystemExit(1) from exc
    finally:
        # Synchronous on purpose: on Ctrl-C this task is being cancelled and the loop
        # is shutting down; the processes must be stopped before it is gone.
        stack.stop()


async def _demo(stack: EmbeddedStack, progress: Progress, serve: bool) -> None:
    settings = stack.worker_settings()
    specs = plan_topics(settings, load_policy(settings.policy_file), load_topic_settings())
    reports = await wait_for_topics(stack.broker_url, specs, TOPICS_TIMEOUT_S)
    # Existence only: the worker chose the partition counts (it adopts those of an
    # llm.requests that a producer made first, see partitions.py).
    if any(r.state is None for r in reports):
        raise TopicsNotReadyError(
            f"the worker's topics are missing after {TOPICS_TIMEOUT_S:.0f}s:\n"
            + format_reports(reports)
        )
    progress(f"{len(reports)} topics declared")
    async with StreamClient(stack.broker_url, settings.topics) as client:
        samples = build_samples(str(int(time.time())))
        for _, request in samples:
            await client.send(request)
        await client.send_raw(b"garbage", b"\x00\x01 not an event")
        progress(f"sent {len(samples)} sample requests and 1 undecodable event")
        found = await client.wait_for_results([r.request_id for _, r in samples], RESULT_TIMEOUT_S)
        dead = await _first_dead_letter(client)
    progress("all results in")
    print()
    print(format_table([(label, found[r.request_id][0]) for label, r in samples]))
    if dead is not None:
        print(f"\ndead letter: {dead.error_type}: {dead.error_message}")
    if serve:
        _print_serving(stack)
        await asyncio.Event().wait()


async def wait_for_topics(
    broker_url: str, specs: Sequence[TopicSpec], timeout: float
) -> list[TopicReport]:
    """Check the topics until they all exist or ``timeout`` passes; the last reports."""
    deadline = time.monotonic() + timeout
    async with TopicAdmin(broker_url) as admin:
        while True:
            reports = await check_topics(admin, specs)
            if all(r.state is not None for r in reports) or time.monotonic() >= deadline:
                return reports
            await asyncio.sleep(POLL_S)


async def wait_for_death(stack: EmbeddedStack) -> tuple[ManagedProcess, int]:
    """Return when a process of the stack exits: that process and its exit code."""
    while (dead := stack.dead()) is None:
        await asyncio.sleep(POLL_S)
    return dead


async def run_watched(stack: EmbeddedStack, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` while watching the stack. If one of its processes exits first,
    ``work`` is cancelled and ProcessDiedError names the process."""
    task = asyncio.create_task(work)
    watcher = asyncio.create_task(wait_for_death(stack))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also when we are cancelled (Ctrl-C): work's own cleanup, closing its Kafka
        # clients, runs before we return.
        task.cancel()
        watcher.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if not watcher.cancelled():
        raise ProcessDiedError(*watcher.result())
    if not task.cancelled() and (failure := task.exception()) is not None:
        # A process that died can fail the work (a broker gone) before the watch sees it.
        await asyncio.sleep(POLL_S)
        if (dead := stack.dead()) is not None:
            raise ProcessDiedError(*dead) from failure
    task.result()


async def _first_dead_letter(client: StreamClient) -> DeadLetter | None:
    async def first() -> DeadLetter:
        async for dead in client.dead_letters():
            return dead
        raise AssertionError("unreachable")

    try:
        return await asyncio.wait_for(first(), 15)
    except TimeoutError:
        return None


def format_table(rows: list[tuple[str, LLMResult]]) -> str:
    header = (
        "request",
        "route",
        "tiers tried",
        "final model",
        "esc",
        "fallback",
        "tokens",
        "cost $",
    )
    lines = [header]
    for label, result in rows:
        tiers = "->".join(_dedupe(a.tier for a in result.attempts if a.outcome != "classified"))
        tokens = sum(a.input_tokens + a.output_tokens for a in result.attempts)
        route = result.route.strategy if result.route else "-"
        model = result.model if result.status == "ok" else f"error: {_error_type(result)}"
        lines.append(
            (
                label,
                route,
                tiers or "-",
                model or "-",
                "yes" if result.escalated else "no",
                "yes" if result.fallback_used else "no",
                str(tokens),
                f"{result.total_cost_usd:.6f}",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in lines
    ]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    total = sum(r.total_cost_usd for _, r in rows)
    rendered.append(f"total cost ${total:.6f} for {len(rows)} requests")
    return "\n".join(rendered)


def _error_type(result: LLMResult) -> str:
    return result.error.type if result.error else "unknown"


def _dedupe(items: object) -> list[str]:
    seen: list[str] = []
    for item in items:  # type: ignore[attr-defined]
        if not seen or seen[-1] != item:
            seen.append(item)
    return seen


def _print_serving(stack: EmbeddedStack) -> None:
    print(
        "\nserving until Ctrl-C. From another shell:\n"
        f"  export STREAMROUTER_BROKER={stack.broker_url}\n"
        '  streamrouter send "Write a commit message for: bump version" '
        "--task-type commit_message --wait 30\n"
        "  streamrouter tail --from-beginning",
        flush=True,
    )


def _packaged_demo_scenario() -> Path:
    return Path(str(resources.files("streamrouter.sim") / "scenarios" / "demo.yaml"))
