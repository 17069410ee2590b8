"""The client follows a topic that the worker declares only after the client started."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from streamrouter.admin import TopicAdmin, TopicSpec
from streamrouter.client import StreamClient
from streamrouter.codec import encode
from streamrouter.config import Topics
from streamrouter.embedded.broker import embedded_broker
from streamrouter.events import LLMResult

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


@pytest.fixture
def broker_url() -> Iterator[str]:
    process, url = embedded_broker()
    with process:
        process.start(30)
        yield url


async def test_a_topic_created_after_the_client_started_is_followed(broker_url: str) -> None:
    # The consumer's cached metadata learns of a topic created after it started only
    # after metadata_max_age_ms (5 minutes): a results follower started just before the
    # worker declared the topic saw nothing for that long.
    topics = Topics(prefix="llm.")
    result = LLMResult(request_id="r1", tenant="t", status="ok", completed_at=NOW)
    async with StreamClient(broker_url, topics) as client:
        following = asyncio.ensure_future(anext(client.results()))
        await asyncio.sleep(1.0)  # the follower is waiting for the topic
        async with TopicAdmin(broker_url) as admin:
            await admin.create([TopicSpec(topics.results, partitions=2, replication_factor=1)])
        await client.send_raw(b"r1", encode(result), topics.results)
        assert (await asyncio.wait_for(following, 20)).request_id == "r1"
