"""The router bypass in a backlog: simple requests published at once, the default policy
(bypass window 100, on after 20 verdicts, 1 in 10 still classified), dev timings.

Prints how many were bypassed. Goal (issue 13): at least 80 of 120.

    nice -n 5 .venv/bin/python bench/bypass_backlog.py
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchlib import Reader, producer, stack

from streamrouter.codec import encode
from streamrouter.events import LLMRequest, Message

SCENARIO = """
latency_ms: {mean: 200, jitter: 20}
rules:
  - match: "BYPASS"
    complexity: simple
    confidence: 0.95
"""
DEV_ENV = {
    "STREAMROUTER_KAFKA_SESSION_TIMEOUT_S": "6",
    "STREAMROUTER_KAFKA_REBALANCE_TIMEOUT_S": "6",
    "STREAMROUTER_KAFKA_HEARTBEAT_S": "1",
}


async def bypassed_in_backlog(requests: int, timeout_s: float) -> tuple[int, float]:
    async with stack(SCENARIO, **DEV_ENV) as running:
        reader = Reader(running.broker_url, "llm.results", decode_results=True)
        await reader.start()
        sending = await producer(running.broker_url)
        try:
            ids = [f"bypass-{n}" for n in range(requests)]
            started = time.monotonic()
            for rid in ids:
                request = LLMRequest(
                    request_id=rid,
                    messages=[Message(role="user", content=f"BYPASS rename a variable {rid}")],
                )
                await sending.send("llm.requests", encode(request), rid.encode())
            await sending.flush()
            while len(reader.results.keys() & set(ids)) < requests:
                if time.monotonic() - started > timeout_s:
                    raise TimeoutError(f"{len(reader.results)} of {requests} results")
                await asyncio.sleep(0.2)
            drained = time.monotonic() - started
        finally:
            await sending.stop()
            await reader.stop()
    routes = [reader.results[rid].route for rid in ids]
    return sum(1 for r in routes if r is not None and r.strategy == "bypass"), drained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for all results")
    args = parser.parse_args()
    bypassed, drained = asyncio.run(bypassed_in_backlog(args.requests, args.timeout))
    print(
        f"{bypassed} of {args.requests} bypassed (goal >= 80 of 120), "
        f"all results in {drained:.1f} s"
    )


if __name__ == "__main__":
    main()
