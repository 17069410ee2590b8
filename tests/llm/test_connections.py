"""The SDK client's connections: a limit that follows the in-flight setting, spread over
small pools, against the simulator over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from streamrouter.agents.base import model_call_limit
from streamrouter.config import Policy, Settings
from streamrouter.llm.client import create_anthropic_client
from streamrouter.llm.connections import (
    SHARD_CONNECTIONS,
    ShardedTransport,
    environment_proxy,
    least_busy,
)
from streamrouter.sim.scenario import Scenario
from streamrouter.sim.server import serve


@pytest.mark.parametrize(
    ("max_connections", "shards", "total"),
    [(1, 1, 1), (100, 1, 100), (101, 2, 102), (1000, 10, 1000), (6000, 60, 6000)],
)
def test_pools_hold_at_most_shard_connections(
    max_connections: int, shards: int, total: int
) -> None:
    transport = ShardedTransport(max_connections)
    assert len(transport.in_flight) == shards
    assert transport.max_connections == total >= max_connections
    assert total / shards <= SHARD_CONNECTIONS


@pytest.mark.parametrize(
    ("in_flight", "chosen"),
    [
        ([0, 0, 0], 0),  # light traffic stays on the first pool's warm connections
        ([1, 0, 0], 1),
        ([3, 2, 2], 1),
        ([5, 5, 4], 2),
    ],
)
def test_a_call_goes_to_the_first_least_busy_pool(in_flight: list[int], chosen: int) -> None:
    assert least_busy(in_flight) == chosen


def test_the_connection_limit_follows_the_in_flight_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    policy = Policy()  # three tiers: classify, three answer agents, plan, synthesize
    limit = model_call_limit(Settings(max_in_flight=2000), policy)
    assert limit == 2000 * 6
    client = create_anthropic_client(limit)
    # The SDK keeps the httpx client it was given as ``_client``.
    transport = client._client._transport
    assert isinstance(transport, ShardedTransport)
    assert transport.max_connections == limit


async def test_calls_spread_over_pools_and_release_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """More calls at once than one pool holds, and more than the SDK's default keeps
    alive: all are served at once, and every pool is free again after."""
    calls = 250
    async with serve(Scenario.from_data({"latency_ms": 1500})) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        client = create_anthropic_client(300)
        transport = client._client._transport
        assert isinstance(transport, ShardedTransport)
        try:
            await asyncio.gather(
                *(
                    client.messages.create(
                        model="claude-haiku-4-5",
                        max_tokens=10,
                        messages=[{"role": "user", "content": f"hi #{n}"}],
                    )
                    for n in range(calls)
                )
            )
            in_flight_after = list(transport.in_flight)
        finally:
            await client.close()
        seen = sim.calls

    assert len(seen) == calls
    assert max(c["in_flight"] for c in seen) == calls
    assert in_flight_after == [0, 0, 0]


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_the_proxy_the_environment_names_for_the_api(no_proxy_settings: pytest.MonkeyPatch) -> None:
    env = no_proxy_settings
    assert environment_proxy("https://api.anthropic.com") is None
    env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert environment_proxy("https://api.anthropic.com") == "http://proxy.corp:3128"
    assert environment_proxy("http://api.anthropic.com") is None  # HTTP_PROXY unset
    env.setenv("NO_PROXY", "anthropic.com")
    assert environment_proxy("https://api.anthropic.com") is None
    env.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    assert environment_proxy("http://127.0.0.1:8080") is None  # this machine: never
    assert environment_proxy("http://localhost:8080") is None


async def test_calls_go_through_the_proxy_the_environment_names(
    no_proxy_settings: pytest.MonkeyPatch,
) -> None:
    # The simulator stands in for the proxy: it answers the absolute-form requests a
    # client sends a forward proxy. The API's host does not resolve: only through the
    # proxy can the call succeed (httpx ignores the environment for a client with a
    # transport of its own, so it did not).
    async with serve(Scenario.from_data({})) as sim:
        no_proxy_settings.setenv("HTTP_PROXY", sim.url)
        no_proxy_settings.setenv("ANTHROPIC_BASE_URL", "http://api.anthropic.invalid")
        no_proxy_settings.setenv("ANTHROPIC_API_KEY", "test-key")
        client = create_anthropic_client(10)
        try:
            reply = await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
            )
        finally:
            await client.close()
        assert reply.model == "claude-haiku-4-5"
        assert len(sim.calls) == 1
