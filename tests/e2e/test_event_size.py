"""An orchestrated request whose subtask answers add up to more than one Kafka record
holds: the fan-in keeps each answer to its share of the event size limit, so the state
and the synthesis item fit, and the parent gets its result (it used to get none: every
fan-in event failed to send the synthesis item and was dead-lettered)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest

from streamrouter.client import StreamClient
from streamrouter.config import Topics
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import LLMRequest, Message

from .conftest import RESULT_TIMEOUT_S

pytestmark = pytest.mark.e2e

ANSWER_CHARS = 300_000  # three of them and the request: over the producer's 1 MB
# Below the default, so that the synthesis call's body (the request and every answer)
# stays under the simulator's 1 MiB request limit.
MAX_EVENT_BYTES = 600_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    directory = tmp_path_factory.mktemp("event-size")
    scenario = directory / "scenario.json"  # JSON is YAML, and writes a long answer easily
    rules = [
        # Each subtask's answer: long, but well inside its own max_tokens.
        {"match": "Part [0-9] of 3: HUGE", "answer": "y " * (ANSWER_CHARS // 2)}
        | {"output_tokens": 1000, "confidence": 0.95},
        {"match": "HUGE", "subtasks": 3, "confidence": 0.95},
    ]
    scenario.write_text(json.dumps({"latency_ms": {"mean": 5, "jitter": 1}, "rules": rules}))
    env = {"STREAMROUTER_PARTITIONS": "2", "STREAMROUTER_MAX_EVENT_BYTES": str(MAX_EVENT_BYTES)}
    with EmbeddedStack(scenario=scenario, worker_env=env, log_dir=directory) as running:
        yield running


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[StreamClient]:
    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as running:
        yield running


async def test_subtask_answers_larger_than_an_event_are_cut_and_the_parent_answered(
    client: StreamClient,
) -> None:
    # Words, so the simulated planner's excerpt of the prompt stays short.
    prompt = "HUGE [huge-1] " + "x " * 90_000
    request = LLMRequest(
        request_id="huge-1",
        mode="orchestrate",
        messages=[Message(role="user", content=prompt)],
        max_tokens=4000,
    )
    await client.send(request)
    found = await client.wait_for_results([request.request_id], RESULT_TIMEOUT_S)

    (result,) = found[request.request_id]
    assert result.status == "ok", result.error
    assert result.route is not None and result.route.strategy == "orchestrator"
    assert {a.subtask_id for a in result.attempts if a.subtask_id} == {"s1", "s2", "s3"}
