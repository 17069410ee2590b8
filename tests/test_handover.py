"""After an assignment: which requests the previous owner already answered, and which
records it already forwarded."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from streamrouter.agents import handover
from streamrouter.agents.handover import CLOCK_SKEW_MS, PreviousOwner, Written, source_of

OUTPUTS = ["llm.tier.sonnet", "llm.completions"]


def owner() -> PreviousOwner:
    return PreviousOwner("kafka://b:9092", "llm.results", OUTPUTS)


def answering(
    monkeypatch: pytest.MonkeyPatch, *answers: Written | Exception, reads: list[int] | None = None
) -> list[Written | Exception]:
    """``written_since`` gives ``answers`` in turn (raising the exceptions among them)."""
    left = list(answers)

    async def written_since(
        broker: str, results: str, outputs: Collection[str], since_ms: int
    ) -> Written:
        assert (results, list(outputs)) == ("llm.results", OUTPUTS)
        if reads is not None:
            reads.append(since_ms)
        answer = left.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(handover, "written_since", written_since)
    return left


def test_the_topics_are_read_from_the_oldest_record_asked_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[int] = []
    answering(monkeypatch, *[Written({"done-before"}) for _ in range(4)], reads=reads)
    previous = owner()

    async def ask() -> list[bool]:
        return [
            await previous.finished("done-before", timestamp_s=100.0),
            await previous.finished("new", timestamp_s=101.0),  # covered: no second read
            # Older, if only by a second: what a clock the skew behind wrote after it
            # may be before the first read's start, so read from its own skew on.
            await previous.finished("new", timestamp_s=99.0),
            await previous.finished("new", timestamp_s=30.0),
        ]

    assert asyncio.run(ask()) == [True, False, False, False]
    assert reads == [100_000 - CLOCK_SKEW_MS, 99_000 - CLOCK_SKEW_MS, 0]  # not before the epoch
    previous.on_assigned()
    assert asyncio.run(previous.finished("done-before", timestamp_s=100.0))
    assert len(reads) == 4  # a new assignment reads again


def test_a_record_another_names_as_its_source_was_processed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forwarded = source_of("llm.tier.haiku", 1, 41, timestamp_s=100.0)
    reads: list[int] = []
    answering(monkeypatch, Written({"r0"}, {forwarded}), reads=reads)
    previous = owner()

    async def ask() -> list[bool]:
        return [
            await previous.processed(forwarded, timestamp_s=100.0),
            await previous.processed(source_of("llm.tier.haiku", 1, 42, 100.0), timestamp_s=100.0),
            await previous.finished("r0", timestamp_s=100.0),
        ]

    assert asyncio.run(ask()) == [True, False, True]
    assert len(reads) == 1  # one read answers both questions


def test_a_failed_read_is_made_again_not_taken_for_nothing_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    left = answering(monkeypatch, ConnectionError("broker away"), Written(set(), {"t/0/1"}))
    monkeypatch.setattr(handover, "RETRY_PAUSE_S", 0.0)
    assert asyncio.run(owner().processed("t/0/1", timestamp_s=0.0)) is True  # not a second call
    assert left == []


def test_a_read_an_assignment_overtook_is_done_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Partitions assigned during a read: its end offsets were taken before their previous
    # owners' last results, so it counts for nothing and the read is made again.
    previous = owner()
    answers = [Written({"before-the-assignment"}), Written({"after-it"})]

    async def written_since(
        broker: str, results: str, outputs: Collection[str], since_ms: int
    ) -> Written:
        found = answers.pop(0)
        if answers:
            previous.on_assigned()
        return found

    monkeypatch.setattr(handover, "written_since", written_since)
    assert asyncio.run(previous.finished("after-it", timestamp_s=100.0))
    assert not asyncio.run(previous.finished("before-the-assignment", timestamp_s=100.0))
    assert answers == []
