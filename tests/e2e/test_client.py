"""The client follows a topic that the worker declares only after the client started."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamrouter.client import StreamClient, bootstrap_servers
from streamrouter.codec import encode
from streamrouter.config import Topics
from streamrouter.embedded.broker import embedded_broker
from streamrouter.events import LLMResult

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


@pytest.fixture
def broker_url() -> Iterator[str]:
    broker, url = embedded_broker()
    broker.start(timeout=30)
    try:
        yield url
    finally:
        broker.stop()


async def create_topic(broker_url: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(broker_url))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def test_a_topic_created_after_the_client_started_is_followed(broker_url: str) -> None:
    # The consumer's cached metadata learns of a topic created after it started only
    # after metadata_max_age_ms (5 minutes): a results follower started just before the
    # worker declared the topic saw nothing for that long.
    topics = Topics(prefix="llm.")
    result = LLMResult(request_id="r1", tenant="t", status="ok", completed_at=NOW)
    async with StreamClient(broker_url, topics) as client:
        following = asyncio.ensure_future(anext(client.results()))
        await asyncio.sleep(1.0)  # the follower is waiting for the topic
        await create_topic(broker_url, topics.results, 2)
        await client.send_raw(b"r1", encode(result), topics.results)
        assert (await asyncio.wait_for(following, 20)).request_id == "r1"
