"""After an assignment: which requests the previous owner already answered."""

from __future__ import annotations

import asyncio

import pytest

from streamrouter.agents import handover
from streamrouter.agents.handover import CLOCK_SKEW_MS, FinishedByPreviousOwner


def test_the_results_topic_is_read_from_the_oldest_record_asked_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[int] = []

    async def result_ids_since(broker: str, topic: str, since_ms: int) -> set[str]:
        reads.append(since_ms)
        return {"done-before"}

    monkeypatch.setattr(handover, "result_ids_since", result_ids_since)
    previous = FinishedByPreviousOwner("kafka://b:9092", "llm.results")

    async def ask() -> list[bool]:
        return [
            await previous.finished("done-before", timestamp_s=100.0),
            await previous.finished("new", timestamp_s=101.0),  # covered: no second read
            await previous.finished("new", timestamp_s=90.0),  # within the skew: covered
            await previous.finished("new", timestamp_s=30.0),  # older: read again
        ]

    assert asyncio.run(ask()) == [True, False, False, False]
    assert reads == [100_000 - CLOCK_SKEW_MS, 0]  # never before the epoch
    previous.on_assigned()
    assert asyncio.run(previous.finished("done-before", timestamp_s=100.0))
    assert len(reads) == 3  # a new assignment reads again


def test_a_failed_read_is_made_again_not_taken_for_nothing_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[set[str] | Exception] = [ConnectionError("broker away"), {"x"}]

    async def flaky(broker: str, topic: str, since_ms: int) -> set[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(handover, "result_ids_since", flaky)
    monkeypatch.setattr(handover, "RETRY_PAUSE_S", 0.0)
    previous = FinishedByPreviousOwner("kafka://b:9092", "llm.results")
    assert asyncio.run(previous.finished("x", timestamp_s=0.0)) is True  # not a second result
    assert answers == []


def test_a_read_an_assignment_overtook_is_done_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Partitions assigned during a read: its end offsets were taken before their previous
    # owners' last results, so it counts for nothing and the read is made again.
    previous = FinishedByPreviousOwner("kafka://b:9092", "llm.results")
    answers = [{"before-the-assignment"}, {"after-it"}]

    async def result_ids_since(broker: str, topic: str, since_ms: int) -> set[str]:
        found = answers.pop(0)
        if answers:
            previous.on_assigned()
        return found

    monkeypatch.setattr(handover, "result_ids_since", result_ids_since)
    assert asyncio.run(previous.finished("after-it", timestamp_s=100.0))
    assert not asyncio.run(previous.finished("before-the-assignment", timestamp_s=100.0))
    assert answers == []
