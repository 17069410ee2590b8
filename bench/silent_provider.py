"""A provider that accepts requests and never answers, at the production timeouts: how
long from sending a request pinned to opus to its result.

    nice -n 5 .venv/bin/python bench/silent_provider.py

One stack (tansu broker, simulator, a worker with the Settings' model timeout, retries and
request timeout: 60 s, 2, 90 s). The simulator's ``timeout`` rules read the request and
say nothing: for one request only opus is silent (sonnet, its first fallback, answers),
for the other every model is. Both are sent at once and the script prints, for each, the
seconds from send to result, the result and the model calls made. Goal: the first is
answered by sonnet one model timeout after the send, the second ends in a ``timeout``
error one request timeout after it (Kafka adds well under a second to either).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid

from benchlib import Reader, producer, stack

from streamrouter.codec import encode
from streamrouter.config import Settings
from streamrouter.embedded.stack import default_env
from streamrouter.events import LLMRequest, LLMResult, Message

DEFAULTS = Settings()
PRODUCTION_TIMEOUTS = default_env(
    "STREAMROUTER_MODEL_TIMEOUT_S",
    "STREAMROUTER_MODEL_MAX_RETRIES",
    "STREAMROUTER_REQUEST_TIMEOUT_S",
)
SCENARIO = """
rules:
  - match: "SILENT-OPUS"
    model: "claude-opus-*"
    error: timeout
  - match: "SILENT-OPUS"
    answer: "answered by the fallback"
    confidence: 0.95
  - match: "SILENT-ALL"
    error: timeout
"""
CASES = {
    "opus silent, sonnet answers": "SILENT-OPUS",
    "every model silent": "SILENT-ALL",
}
RESULT_TIMEOUT_S = DEFAULTS.request_timeout_s + 60


def pinned_request(request_id: str, marker: str) -> LLMRequest:
    content = f"{marker} [{request_id}] review this design"
    return LLMRequest(
        request_id=request_id, tier="opus", messages=[Message(role="user", content=content)]
    )


def models_called(sim_url: str, request_id: str) -> list[str]:
    with urllib.request.urlopen(f"{sim_url}/_sim/calls", timeout=30) as response:
        calls = json.load(response)
    return [str(c["model"]) for c in calls if f"[{request_id}]" in str(c["last_user"])]


def describe(result: LLMResult) -> str:
    if result.error is not None:
        return f"error {result.error.type}"
    return f"{result.status} from {result.model} (fallback_used={result.fallback_used})"


async def main() -> None:
    print(
        f"model timeout {DEFAULTS.model_timeout_s:g} s, {DEFAULTS.model_max_retries} retries, "
        f"request timeout {DEFAULTS.request_timeout_s:g} s; chain opus -> sonnet -> haiku",
        flush=True,
    )
    async with stack(SCENARIO, **PRODUCTION_TIMEOUTS) as running:
        reader = Reader(running.broker_url, "llm.results", decode_results=True)
        await reader.start()
        sending = await producer(running.broker_url)
        tag = f"silent-{uuid.uuid4().hex[:6]}"
        ids = {case: f"{tag}-{n}" for n, case in enumerate(CASES)}
        sent_at: dict[str, float] = {}
        try:
            for case, marker in CASES.items():
                request = pinned_request(ids[case], marker)
                await sending.send_and_wait(
                    "llm.requests", encode(request), request.request_id.encode()
                )
                sent_at[request.request_id] = time.monotonic()
            await reader.wait_for(len(CASES), RESULT_TIMEOUT_S)
        finally:
            await sending.stop()
            await reader.stop()
        for case, rid in ids.items():
            seconds = reader.seen_at[rid] - sent_at[rid]
            called = " -> ".join(models_called(running.sim_url, rid))
            print(
                f"{case:28s} send -> result {seconds:6.1f} s  {describe(reader.results[rid])}; "
                f"calls: {called}"
            )


if __name__ == "__main__":
    asyncio.run(main())
