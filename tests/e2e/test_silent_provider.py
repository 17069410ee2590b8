"""A provider that accepts the request and never answers, end to end: the worker's time
budget (STREAMROUTER_REQUEST_TIMEOUT_S) ends a request pinned to opus with a ``timeout``
error result, or with the fallback's answer when the fallback speaks.

The silent provider is the stack's own simulator: its ``timeout`` rule reads the request
and says nothing until the simulator stops, and its call log says when each call started.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streamrouter.client import StreamClient
from streamrouter.config import Topics
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import LLMResult

from .conftest import model_calls, new_request

pytestmark = [pytest.mark.e2e]

REQUEST_TIMEOUT_S = 4.0
MODEL_TIMEOUT_S = 3.0
RESULT_TIMEOUT_S = 60.0
SLACK_S = 3.0  # the result's way back through Kafka (each fetch may wait 0.5 s)
OPUS, SONNET, HAIKU = "claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5"
SCENARIO = """
rules:
  - match: "SILENT-ALL"
    error: timeout
  - match: "SILENT-OPUS"
    model: "claude-opus-*"
    error: timeout
  - match: "SILENT-OPUS"
    answer: "the fallback answers"
    confidence: 0.95
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    directory = tmp_path_factory.mktemp("silent-provider")
    scenario = directory / "scenario.yaml"
    scenario.write_text(SCENARIO)
    env = {
        "STREAMROUTER_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        "STREAMROUTER_MODEL_TIMEOUT_S": str(MODEL_TIMEOUT_S),
        "STREAMROUTER_MODEL_MAX_RETRIES": "2",
    }
    with EmbeddedStack(scenario=Path(scenario), worker_env=env, log_dir=directory) as running:
        yield running


@pytest.fixture
async def client(stack: EmbeddedStack) -> AsyncIterator[StreamClient]:
    async with StreamClient(stack.broker_url, Topics(prefix="llm.")) as running:
        yield running


async def result_of(client: StreamClient, request_id: str) -> LLMResult:
    found = await client.wait_for_results([request_id], RESULT_TIMEOUT_S)
    return found[request_id][0]


def call_starts(stack: EmbeddedStack, request_id: str) -> list[tuple[str, float]]:
    """(model, epoch seconds) of each model call the simulator got for the request."""
    return [(str(c["model"]), float(str(c["at"]))) for c in model_calls(stack, request_id)]


async def test_everything_silent_ends_in_a_timeout_within_the_budget(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    request = new_request("SILENT-ALL", tier="opus")
    await client.send(request)

    result = await result_of(client, request.request_id)
    received = time.time()

    assert result.status == "error"
    assert result.error is not None and result.error.type == "timeout"
    assert result.answer is None
    assert [(a.model, a.outcome) for a in result.attempts] == [(OPUS, "failed"), (SONNET, "failed")]
    # opus: one call (a timeout is not retried) for its whole 3 s; then sonnet gets the 1 s
    # the budget has left, and haiku is never called.
    (first, opus_at), (second, sonnet_at) = call_starts(stack, request.request_id)
    assert (first, second) == (OPUS, SONNET)
    assert MODEL_TIMEOUT_S - 0.5 < sonnet_at - opus_at < MODEL_TIMEOUT_S + 1.0
    assert REQUEST_TIMEOUT_S - 0.5 < received - opus_at < REQUEST_TIMEOUT_S + SLACK_S


async def test_a_silent_first_model_is_answered_by_the_fallback(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    request = new_request("SILENT-OPUS", tier="opus")
    await client.send(request)

    result = await result_of(client, request.request_id)
    received = time.time()

    assert result.status == "ok" and result.fallback_used
    assert (result.tier, result.model, result.answer) == ("opus", SONNET, "the fallback answers")
    assert [(a.model, a.outcome) for a in result.attempts] == [
        (OPUS, "failed"),
        (SONNET, "answered"),
    ]
    (first, opus_at), (second, sonnet_at) = call_starts(stack, request.request_id)
    assert (first, second) == (OPUS, SONNET)
    assert MODEL_TIMEOUT_S - 0.5 < received - opus_at < MODEL_TIMEOUT_S + SLACK_S
    # Completed when the fallback had answered, not when the tier took the request.
    assert result.completed_at.timestamp() >= sonnet_at
