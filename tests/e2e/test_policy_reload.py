"""A running worker takes up a new version of its policy file on SIGHUP, and refuses,
still serving, one that changes what it built at start (its tiers' topics).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamrouter.client import StreamClient
from streamrouter.embedded.stack import EmbeddedStack

from .conftest import following_a_policy_file, hang_up_and_wait_for, new_request

pytestmark = [pytest.mark.e2e]

SCENARIO = """
rules:
  - match: "RELOAD"
    confidence: 0.95
"""
TO_HAIKU = "task_map: {commit_message: haiku}\n"
TO_SONNET = "task_map: {commit_message: sonnet}\n"
TWO_TIERS = """
tiers:
  - {name: small, model: claude-haiku-4-5}
  - {name: large, model: claude-opus-4-7}
task_map: {commit_message: large}
"""
RESULT_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def stack(policy_file: Path) -> Iterator[EmbeddedStack]:
    with following_a_policy_file(policy_file, SCENARIO, TO_HAIKU) as running:
        yield running


async def answering_tier(client: StreamClient) -> str | None:
    request = new_request("RELOAD", task_type="commit_message")
    await client.send(request)
    found = await client.wait_for_results([request.request_id], RESULT_TIMEOUT_S)
    return found[request.request_id][0].tier


async def test_sighup_takes_up_a_new_policy_version(
    stack: EmbeddedStack, client: StreamClient, policy_file: Path
) -> None:
    assert await answering_tier(client) == "haiku"
    policy_file.write_text(TO_SONNET)
    hang_up_and_wait_for(stack, "now routing by version")
    assert await answering_tier(client) == "sonnet"


async def test_a_version_that_changes_the_tiers_is_refused_and_the_worker_serves_on(
    stack: EmbeddedStack, client: StreamClient, policy_file: Path
) -> None:
    before = await answering_tier(client)
    policy_file.write_text(TWO_TIERS)
    hang_up_and_wait_for(stack, "not taken up (restart the worker to use it): its tiers")
    assert stack.workers[0].running
    assert await answering_tier(client) == before
