"""The partition count a worker runs with: the requests topic's when someone else made it
(a producer deployed before the service, and the broker's auto-creation)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streamrouter.admin import TopicAdmin, TopicSpec, faust_topics
from streamrouter.app import create_app
from streamrouter.client import StreamClient
from streamrouter.config import Policy, Settings
from streamrouter.embedded.broker import embedded_broker
from streamrouter.embedded.process import ManagedProcess, ProcessStartError, free_port
from streamrouter.events import LLMRequest, Message
from streamrouter.llm.pricing import PriceTable
from streamrouter.partitions import PartitionMismatchError, copartitioned, partitions_to_use
from streamrouter.sim.server import SimServer, serve

REQUESTS = "llm.requests"

# --- the decision (pure) ---------------------------------------------------------------


def test_with_no_topics_the_configured_count_is_used() -> None:
    assert partitions_to_use(2, REQUESTS, {}) == 2


def test_an_existing_requests_topic_gives_its_count() -> None:
    assert partitions_to_use(2, REQUESTS, {REQUESTS: 4, "llm.completions": 4}) == 4


def test_topics_with_another_count_than_the_requests_topic_are_named() -> None:
    existing = {REQUESTS: 4, "llm.completions": 2, "llm.tier.haiku": 4, "app-ledger-changelog": 3}
    with pytest.raises(PartitionMismatchError) as raised:
        partitions_to_use(2, REQUESTS, existing)
    message = str(raised.value)
    assert message.startswith(
        "topics app-ledger-changelog (3 partitions), llm.completions (2 partitions) do not"
        " have the 4 partitions of llm.requests;"
    )
    assert "llm.tier.haiku" not in message
    assert "delete them" in message
    assert "recreate llm.requests" not in message  # with which count? they differ
    assert "\n" not in message


def test_without_a_requests_topic_the_others_must_have_the_configured_count() -> None:
    with pytest.raises(PartitionMismatchError, match="STREAMROUTER_PARTITIONS=2"):
        partitions_to_use(2, REQUESTS, {"llm.completions": 3})


def test_every_agent_topic_and_table_changelog_is_copartitioned() -> None:
    settings = Settings(app_id="cp", partitions=2)
    policy = Policy()
    names = copartitioned(settings, policy)
    app = create_app(settings, policy, PriceTable.default())
    changelogs = {s.name for s in faust_topics(app, 1) if s.name.endswith("-changelog")}
    assert names[0] == "llm.requests"
    assert changelogs and changelogs <= set(names)  # named as Faust names them
    assert {"llm.completions", "llm.tier.haiku", "llm.spend"} <= set(names)
    assert not {"llm.results", "llm.dlq"} & set(names)  # read without the ledger


# --- a worker on a broker someone else set up ------------------------------------------


@pytest.fixture
def broker_url() -> Iterator[str]:
    process, url = embedded_broker()
    with process:
        process.start(30)
        yield url


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with serve() as server:
        yield server


def worker(broker_url: str, sim_url: str, tmp_path: Path) -> ManagedProcess:
    env = {
        "STREAMROUTER_BROKER": broker_url,
        "STREAMROUTER_PARTITIONS": "2",  # not tansu's auto-creation count (4)
        "STREAMROUTER_WEB_PORT": str(free_port()),
        "STREAMROUTER_DATA_DIR": str(tmp_path / "data"),
        "STREAMROUTER_KAFKA_SESSION_TIMEOUT_S": "6",
        "STREAMROUTER_KAFKA_REBALANCE_TIMEOUT_S": "6",
        "STREAMROUTER_KAFKA_HEARTBEAT_S": "1",
        "ANTHROPIC_BASE_URL": sim_url,
        "ANTHROPIC_API_KEY": "sk-sim-not-a-secret",
    }
    return ManagedProcess(
        "worker",
        [sys.executable, "-m", "streamrouter", "worker", "--loglevel", "info"],
        ready=r"\[\^Worker\]: Ready",
        env=env,
        log_path=tmp_path / "worker.log",
    )


@pytest.mark.e2e
async def test_a_request_published_before_any_worker_is_served(
    broker_url: str, sim: SimServer, tmp_path: Path
) -> None:
    request = LLMRequest(
        request_id="came-first",
        task_type="commit_message",
        messages=[Message(role="user", content="Write a commit message: bump version")],
    )
    async with StreamClient(broker_url, Settings().topics) as client:
        await client.send(request)  # the broker creates llm.requests with its default
        async with TopicAdmin(broker_url) as admin:
            auto_created = (await admin.describe([REQUESTS]))[REQUESTS].partitions
        assert auto_created != 2
        with worker(broker_url, sim.url, tmp_path) as running:
            await asyncio.to_thread(running.start, 90)
            found = await client.wait_for_results([request.request_id], 60)
        async with TopicAdmin(broker_url) as admin:
            states = await admin.describe(["llm.completions", "streamrouter-ledger-changelog"])
    assert found[request.request_id][0].status == "ok"
    assert {s.partitions for s in states.values()} == {auto_created}
    assert f"running with {auto_created}" in (tmp_path / "worker.log").read_text()


@pytest.mark.e2e
async def test_internal_topics_with_another_count_stop_the_worker_with_one_line(
    broker_url: str, sim: SimServer, tmp_path: Path
) -> None:
    async with TopicAdmin(broker_url) as admin:
        await admin.create([TopicSpec(REQUESTS, 2, 1), TopicSpec("llm.completions", 3, 1)])
    with worker(broker_url, sim.url, tmp_path) as running:
        with pytest.raises(ProcessStartError):
            await asyncio.to_thread(running.start, 90)
        assert running.wait(30) == 2
    log = (tmp_path / "worker.log").read_text().strip().splitlines()
    assert log[-1].startswith("streamrouter: topics llm.completions (3 partitions) do not have")
    assert "delete them" in log[-1]
    assert log[-1].endswith("or recreate llm.requests with 3")
