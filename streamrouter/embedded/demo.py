"""``streamrouter dev``: the embedded stack, sample requests for every pattern, a table."""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from pathlib import Path

from streamrouter.client import StreamClient
from streamrouter.config import Topics
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import DeadLetter, LLMRequest, LLMResult, Message

__all__ = ["SAMPLES", "format_table", "run_demo"]

RESULT_TIMEOUT_S = 180.0

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
        topics = Topics(prefix="llm.")
        async with StreamClient(stack.broker_url, topics) as client:
            samples = build_samples(str(int(time.time())))
            for _, request in samples:
                await client.send(request)
            await client.send_raw(b"garbage", b"\x00\x01 not an event")
            progress(f"sent {len(samples)} sample requests and 1 undecodable event")
            found = await client.wait_for_results(
                [r.request_id for _, r in samples], RESULT_TIMEOUT_S
            )
            dead = await _first_dead_letter(client)
        progress("all results in")
        print()
        print(format_table([(label, found[r.request_id][0]) for label, r in samples]))
        if dead is not None:
            print(f"\ndead letter: {dead.error_type}: {dead.error_message}")
        if serve:
            _print_serving(stack)
            await asyncio.Event().wait()
    finally:
        # Synchronous on purpose: on Ctrl-C this task is being cancelled and the loop
        # is shutting down; the processes must be stopped before it is gone.
        stack.stop()


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
