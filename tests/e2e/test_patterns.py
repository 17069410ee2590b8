"""Orchestrator-workers, router bypass, prompt caching and budgets, end to end.

These run on their own stack (its policy has a small bypass window and a budgeted
tenant), so bypass state and budgets cannot leak into the other end-to-end tests.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamrouter.client import StreamClient, bootstrap_servers
from streamrouter.config import Topics
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import LLMRequest, LLMResult
from streamrouter.pipeline.fanin import FanInState

from .conftest import RESULT_TIMEOUT_S, model_calls, new_request

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def patterns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    env = {
        "STREAMROUTER_POLICY_FILE": str(HERE / "patterns_policy.yaml"),
        "STREAMROUTER_PARTITIONS": "2",
    }
    log_dir = tmp_path_factory.mktemp("patterns-logs")
    with EmbeddedStack(
        scenario=HERE / "patterns_scenario.yaml", worker_env=env, log_dir=log_dir
    ) as stack:
        yield stack


@pytest.fixture
async def client(patterns: EmbeddedStack) -> AsyncIterator[StreamClient]:
    async with StreamClient(patterns.broker_url, Topics(prefix="llm.")) as running:
        yield running


async def result_of(client: StreamClient, request: LLMRequest) -> LLMResult:
    await client.send(request)
    found = await client.wait_for_results([request.request_id], RESULT_TIMEOUT_S)
    return found[request.request_id][0]


async def test_orchestrated_request_fans_out_and_rolls_up(
    patterns: EmbeddedStack, client: StreamClient
) -> None:
    result = await result_of(client, new_request("PAT-ORCH", mode="orchestrate"))

    assert result.status == "ok" and result.route is not None
    assert result.route.strategy == "orchestrator"
    assert [a.outcome for a in result.attempts if a.subtask_id is None] == [
        "planned",
        "synthesized",
    ]
    groups = {a.subtask_id for a in result.attempts if a.subtask_id is not None}
    assert groups == {"s1", "s2", "s3"}
    assert all(a.tier == "haiku" for a in result.attempts if a.subtask_id)
    assert result.total_cost_usd == pytest.approx(sum(a.cost_usd for a in result.attempts))
    assert (result.tier, result.model) == ("opus", "claude-opus-4-7")
    # Finished: its fan-in entry is deleted (the timer looks every 5 s).
    await asyncio.wait_for(fanin_has(patterns, result.request_id, None), 30)


async def test_a_plan_over_the_maximum_is_cut_and_says_so(client: StreamClient) -> None:
    result = await result_of(client, new_request("PAT-MANY", task_type="orchestration"))

    assert result.route is not None and "plan cut from 5 to 3 subtasks" in result.route.reason
    assert len({a.subtask_id for a in result.attempts if a.subtask_id}) == 3


async def test_a_repeated_long_system_prompt_is_billed_as_cache_reads(
    client: StreamClient,
) -> None:
    system = "You review commit messages for the ACME monorepo. " * 120  # ~1,500 tokens
    first = await result_of(
        client, new_request("PAT-CACHE", task_type="commit_message", system=system)
    )
    second = await result_of(
        client, new_request("PAT-CACHE", task_type="commit_message", system=system)
    )

    written, read = first.attempts[0], second.attempts[0]
    assert written.cache_creation_input_tokens > 1024 and written.cache_read_input_tokens == 0
    assert read.cache_read_input_tokens == written.cache_creation_input_tokens
    assert read.cache_creation_input_tokens == 0
    assert second.total_cost_usd < first.total_cost_usd


def tenant_spend(stack: EmbeddedStack, tenant: str) -> float:
    url = f"http://127.0.0.1:{stack.web_ports[-1]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'streamrouter_tenant_spend_usd{{tenant="{tenant}"}}'):
                return float(line.split()[-1])
    return 0.0


async def wait_for_spend(stack: EmbeddedStack, tenant: str, at_least: float) -> None:
    async def booked() -> None:
        while tenant_spend(stack, tenant) < at_least * 0.999:
            await asyncio.sleep(0.2)

    await asyncio.wait_for(booked(), RESULT_TIMEOUT_S)


async def test_a_tenant_over_budget_is_capped_then_refused(
    patterns: EmbeddedStack, client: StreamClient
) -> None:
    tenant = "budget-tenant"
    # ~1,250 input tokens on opus: about 60% of the $0.01 daily budget.
    first = await result_of(
        client, new_request("PAT-BUDGET", tenant=tenant, tier="opus", text="context " * 560)
    )
    await wait_for_spend(patterns, tenant, first.total_cost_usd)
    capped = await result_of(client, new_request("PAT-BUDGET", tenant=tenant, tier="opus"))
    # ~10,000 input tokens on haiku: the rest of the budget.
    big = await result_of(
        client, new_request("PAT-BUDGET", tenant=tenant, task_type="summarize", text="x " * 20000)
    )
    spent = first.total_cost_usd + capped.total_cost_usd + big.total_cost_usd
    await wait_for_spend(patterns, tenant, spent)
    refused_request = new_request("PAT-BUDGET", tenant=tenant, tier="opus")
    refused = await result_of(client, refused_request)

    assert (first.status, first.tier) == ("ok", "opus")
    assert 0.005 <= first.total_cost_usd < 0.01
    assert (capped.status, capped.tier, capped.model) == ("ok", "haiku", "claude-haiku-4-5")
    assert capped.route is not None and "capped at haiku by budget" in capped.route.reason
    assert spent >= 0.01
    assert refused.status == "error" and refused.error is not None
    assert refused.error.type == "budget_exceeded"
    assert refused.attempts == [] and refused.total_cost_usd == 0
    assert model_calls(patterns, refused_request.request_id) == []


async def test_mostly_simple_traffic_turns_the_bypass_on_and_hard_traffic_off(
    patterns: EmbeddedStack, client: StreamClient
) -> None:
    async def wave(marker: str, count: int) -> list[LLMResult]:
        requests = [new_request(marker) for _ in range(count)]
        for request in requests:
            await client.send(request)
        found = await client.wait_for_results([r.request_id for r in requests], RESULT_TIMEOUT_S)
        return [found[r.request_id][0] for r in requests]

    def strategies(results: list[LLMResult]) -> list[str]:
        return [r.route.strategy if r.route else "" for r in results]

    warmup = await wave("PAT-SIMPLE", 10)  # fills the window: every decision says haiku
    bypassed = await wave("PAT-SIMPLE", 8)
    classifier_calls = [
        c for r in bypassed for c in model_calls(patterns, r.request_id) if c["kind"] == "classify"
    ]

    assert set(strategies(warmup)) == {"classifier"}
    assert sorted(strategies(bypassed)) == ["bypass"] * 6 + ["classifier"] * 2
    assert len(classifier_calls) == 2  # only the sampled requests were classified
    assert all(r.tier == "haiku" for r in bypassed)

    shifted = []
    for _ in range(12):  # one at a time, so each sampled decision lands before the next
        shifted += await wave("PAT-HARD", 1)
        if strategies(shifted[-2:]) == ["classifier", "classifier"]:
            break
    hard_bypassed = [r for r in shifted if r.route and r.route.strategy == "bypass"]

    assert strategies(shifted[-2:]) == ["classifier", "classifier"]  # the bypass is off
    assert all(r.tier == "opus" for r in shifted[-2:])
    assert all(r.escalated for r in hard_bypassed)  # the cascade caught what bypass sent low


async def test_the_bypass_turns_on_inside_a_backlog(client: StreamClient) -> None:
    """120 simple requests published at once, the bypass off (the test above ends with it
    off): the requests still waiting when the first verdicts are back skip the classifier.
    Decided at admission, all 120 were admitted before any verdict: 4 of 120 bypassed."""
    requests = [new_request("PAT-SIMPLE") for _ in range(120)]
    await asyncio.gather(*(client.send(request) for request in requests))
    found = await client.wait_for_results([r.request_id for r in requests], RESULT_TIMEOUT_S)
    routes = [found[r.request_id][0].route for r in requests]
    bypassed = sum(1 for route in routes if route is not None and route.strategy == "bypass")
    assert bypassed >= 40


async def fanin_has(stack: EmbeddedStack, parent_id: str, subtask_id: str | None) -> None:
    """Wait until the fan-in table's changelog holds this subtask's result (None: the
    parent's entry deleted)."""
    topic = "streamrouter-fanin-changelog"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(stack.broker_url))
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        async for record in consumer:
            if not record.key or json.loads(record.key) != parent_id:
                continue
            if record.value is None:
                if subtask_id is None:
                    return
                continue
            state = FanInState.model_validate_json(json.loads(record.value))
            if subtask_id in state.results:
                return
    finally:
        await consumer.stop()


async def test_a_worker_killed_after_fan_out_finishes_without_rerunning_subtasks(
    patterns: EmbeddedStack, client: StreamClient
) -> None:
    request = new_request("PAT-KILL", mode="orchestrate")
    parent_id = request.request_id
    await client.send(request)
    await asyncio.wait_for(fanin_has(patterns, parent_id, "s1"), RESULT_TIMEOUT_S)
    # s2 and s3 are still in flight (4 s each in the simulator).
    patterns.workers[-1].kill()
    await asyncio.to_thread(patterns.start_worker)

    found = await client.wait_for_results([parent_id], RESULT_TIMEOUT_S * 2)

    assert len(found[parent_id]) == 1
    result = found[parent_id][0]
    assert result.status == "ok"
    assert {a.subtask_id for a in result.attempts if a.subtask_id} == {"s1", "s2", "s3"}
    s1_calls = [
        c for c in model_calls(patterns, parent_id) if str(c["last_user"]).startswith("Part 1 of 3")
    ]
    assert len(s1_calls) == 1  # the finished subtask was not sent to a model again
