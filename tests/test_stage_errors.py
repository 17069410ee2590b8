"""A failed stage leaves something behind before its event is given up: an error result
for a work item, a dead letter for anything else, sent again until the send succeeds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import faust
import pytest
from aiokafka.errors import MessageSizeTooLargeError

from streamrouter.agents import base
from streamrouter.agents.base import AgentGroup
from streamrouter.codec import decode, encode
from streamrouter.events import DeadLetter, LLMRequest, LLMResult, WorkItem
from streamrouter.pipeline.admit import SourceRecord

NOW = datetime(2026, 12, 3, 17, tzinfo=UTC)


class Topic(SimpleNamespace):
    def get_topic_name(self) -> str:
        return str(self.name)


class FailingSends(AgentGroup):
    """Its first ``failures`` publishes fail, as a broker that is away would."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        names = ("completions", "fanin", "dlq")
        runtime = SimpleNamespace(
            topics=SimpleNamespace(**{name: Topic(name=f"llm.{name}") for name in names}),
            tables=None,
            metrics=SimpleNamespace(observe_dead_letter=lambda error_type: None),
        )
        super().__init__(runtime)  # type: ignore[arg-type]
        self.failures = failures
        self.error = error or ConnectionError("broker away")
        self.sent: list[tuple[str, bytes]] = []

    def register(self, app: faust.App) -> None:
        pass

    async def publish(self, topic: faust.TopicT, key: bytes | None, value: bytes) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        self.sent.append((topic.get_topic_name(), value))


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "LEAVE_BEHIND_FIRST_PAUSE_S", 0.001)


def test_a_work_items_error_result_is_sent_again_until_it_is_out() -> None:
    work = WorkItem(request=LLMRequest(request_id="r1"), received_at=NOW, tier="haiku")
    record = SourceRecord(b"r1", encode(work), "llm.tier.haiku", 0, 5)
    agents = FailingSends(failures=3)
    asyncio.run(agents.on_stage_error(record, RuntimeError("stage broke")))
    ((topic, value),) = agents.sent
    result = decode(value, LLMResult)
    assert topic == "llm.completions"
    assert (result.request_id, result.status) == ("r1", "error")
    assert result.error is not None and result.error.type == "internal_error"


def test_anything_else_is_dead_lettered_also_after_failed_sends() -> None:
    record = SourceRecord(b"k", b"not an event", "llm.tier.haiku", 1, 9)
    agents = FailingSends(failures=2)
    asyncio.run(agents.on_stage_error(record, RuntimeError("stage broke")))
    assert [topic for topic, _ in agents.sent] == ["llm.dlq"]


def test_a_send_that_cannot_succeed_leaves_a_bare_dead_letter() -> None:
    work = WorkItem(request=LLMRequest(request_id="r2"), received_at=NOW, tier="haiku")
    record = SourceRecord(b"r2", encode(work), "llm.tier.haiku", 0, 6)
    agents = FailingSends(failures=1, error=MessageSizeTooLargeError())
    asyncio.run(agents.on_stage_error(record, RuntimeError("stage broke")))
    ((topic, value),) = agents.sent
    dead = decode(value, DeadLetter)
    assert topic == "llm.dlq"
    assert (dead.key, dead.value, dead.offset) == (None, b"", 6)
    assert "MessageSizeTooLargeError" in dead.error_message


def test_the_event_is_given_up_when_not_even_a_bare_dead_letter_goes_out() -> None:
    record = SourceRecord(b"k", b"not an event", "llm.tier.haiku", 1, 9)
    agents = FailingSends(failures=10, error=MessageSizeTooLargeError())
    asyncio.run(agents.on_stage_error(record, RuntimeError("stage broke")))  # returns
    assert agents.sent == [] and agents.failures == 8  # tried twice, no loop


def test_a_long_key_is_cut_in_the_dead_letter() -> None:
    record = SourceRecord(b"k" * 600_000, b"not an event", "llm.requests", 0, 1)
    agents = FailingSends(failures=0)
    asyncio.run(agents.on_stage_error(record, RuntimeError("stage broke")))
    ((_, value),) = agents.sent
    dead = decode(value, DeadLetter)
    assert dead.key is not None and len(dead.key) == 16 * 1024
    assert "key of 600000 bytes cut" in dead.error_message
