"""The simulated Message Batches API: the pure state machine, and the endpoints over HTTP
through the real SDK's ``client.messages.batches``."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import aiohttp
import anthropic
import pytest
from anthropic.types.messages import MessageBatch

from streamrouter.errors import ConfigError
from streamrouter.sim import Scenario
from streamrouter.sim.batches import (
    CANCELING_S,
    MAX_REQUESTS,
    Batch,
    BatchItem,
    advance,
    batch_object,
    cancel,
    page_batches,
    parse_batch_create,
)

from .conftest import MakeClient, StartSim, answer_args, user

HAIKU = "claude-haiku-4-5"


def params(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": HAIKU, "max_tokens": 256, "messages": user(text), **extra}


def request(custom_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": params(text, **extra)}


async def wait_ended(client: anthropic.AsyncAnthropic, batch_id: str) -> MessageBatch:
    deadline = time.monotonic() + 5.0
    while True:
        batch = await client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        await asyncio.sleep(0.05)


# --- the pure part ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "requests: Field required"),
        ({"requests": []}, "at least 1 item"),
        ({"requests": [request("a", "x")], "stream": True}, "stream: Extra inputs"),
        ({"requests": ["a"]}, "requests.0: Input should be an object"),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Input should be an object"),
        ({"requests": [{**request("a", "x"), "extra": 1}]}, "requests.0.extra: Extra inputs"),
        ({"requests": [request("", "x")]}, "requests.0.custom_id: must be 1 to 64"),
        ({"requests": [request("a" * 65, "x")]}, "requests.0.custom_id: must be 1 to 64"),
        ({"requests": [request("no spaces", "x")]}, "requests.0.custom_id: must be 1 to 64"),
        ({"requests": [request("a", "x"), request("a", "y")]}, "requests.1.custom_id: 'a' is not"),
        ({"requests": [{"custom_id": "a", "params": {}}] * (MAX_REQUESTS + 1)}, "at most 100000"),
    ],
)
def test_parse_batch_create_rejects_what_the_api_rejects(body: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_batch_create(body)


def test_parse_batch_create_leaves_params_to_processing() -> None:
    items = parse_batch_create(
        {"requests": [request("a-1", "x"), {"custom_id": "B_2", "params": {"bogus": 1}}]}
    )
    assert items == (BatchItem("a-1", params("x")), BatchItem("B_2", {"bogus": 1}))
    assert len(parse_batch_create({"requests": [request(str(i), "x") for i in range(5)]})) == 5


def _batch(n: int, created_at: float = 100.0, processing_s: float = 10.0) -> Batch:
    items = tuple(BatchItem(f"r{i}", params(f"p{i}")) for i in range(n))
    return Batch(f"msgbatch_{n}", items, created_at=created_at, processing_s=processing_s)


def _succeed(item: BatchItem) -> dict[str, Any]:
    return {"type": "succeeded", "message": {"custom_id": item.custom_id}}


def test_a_batch_processes_its_requests_over_processing_s_and_counts_at_the_end() -> None:
    batch = _batch(4)  # due at 102.5, 105, 107.5, 110
    advance(batch, 104.0, _succeed)
    assert len(batch.results) == 1
    shape = batch_object(batch, 104.0, "URL")
    assert shape["processing_status"] == "in_progress"
    assert shape["request_counts"] == {
        "processing": 4, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0,
    }  # fmt: skip
    assert (shape["ended_at"], shape["results_url"]) == (None, None)
    assert shape["created_at"] == "1970-01-01T00:01:40Z"
    assert shape["expires_at"] == "1970-01-02T00:01:40Z"
    advance(batch, 500.0, _succeed)
    shape = batch_object(batch, 500.0, "URL")
    assert shape["processing_status"] == "ended"
    assert shape["request_counts"]["succeeded"] == 4
    assert shape["request_counts"]["processing"] == 0
    assert (shape["ended_at"], shape["results_url"]) == ("1970-01-01T00:01:50Z", "URL")


def test_cancel_keeps_what_was_processed_and_cancels_the_rest() -> None:
    batch = _batch(4)
    cancel(batch, 106.0, _succeed)
    assert [result["type"] for result in batch.results] == [
        "succeeded", "succeeded", "canceled", "canceled",
    ]  # fmt: skip
    assert batch_object(batch, 106.0, "URL")["processing_status"] == "canceling"
    assert batch_object(batch, 106.0, "URL")["request_counts"]["processing"] == 4
    ended = batch_object(batch, 106.0 + CANCELING_S, "URL")
    assert ended["processing_status"] == "ended"
    assert ended["request_counts"]["canceled"] == 2
    assert ended["cancel_initiated_at"] == "1970-01-01T00:01:46Z"
    with pytest.raises(ValueError, match="cannot be canceled"):
        cancel(batch, 107.0, _succeed)
    with pytest.raises(ValueError, match="cannot be canceled"):
        cancel(_batch(1), 500.0, _succeed)  # already ended


def test_page_batches_newest_first_with_cursors() -> None:
    newest_first = [_batch(n) for n in range(5, 0, -1)]  # ids msgbatch_5 .. msgbatch_1
    ids = lambda page: [b.id for b in page.batches]  # noqa: E731
    first = page_batches(newest_first, {"limit": "2"})
    assert (ids(first), first.has_more) == (["msgbatch_5", "msgbatch_4"], True)
    last = page_batches(newest_first, {"limit": "2", "after_id": "msgbatch_2"})
    assert (ids(last), last.has_more) == (["msgbatch_1"], False)
    before = page_batches(newest_first, {"limit": "2", "before_id": "msgbatch_2"})
    assert (ids(before), before.has_more) == (["msgbatch_4", "msgbatch_3"], True)
    assert len(page_batches(newest_first, {}).batches) == 5
    for query, problem in [
        ({"limit": "0"}, "between 1 and 1000"),
        ({"limit": "x"}, "valid integer"),
        ({"after_id": "msgbatch_1", "before_id": "msgbatch_2"}, "only one"),
        ({"after_id": "msgbatch_9"}, "no batch"),
    ]:
        with pytest.raises(ValueError, match=problem):
            page_batches(newest_first, query)


@pytest.mark.parametrize(
    ("batches", "problem"),
    [
        ({"processing_s": -1}, "batches.processing_s: Input should be greater than or equal"),
        ({"expire_match": "("}, "batches.expire_match: not a valid regular expression"),
        ({"processing": 1}, "batches.processing: unknown key"),
    ],
)
def test_the_batches_section_is_validated(batches: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Scenario.from_data({"batches": batches})


# --- over HTTP through the SDK -----------------------------------------------------------


async def test_a_batch_is_in_progress_then_ends_with_counts_and_a_results_url(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(batches={"processing_s": 0.3})
    client = make_client(sim)
    created = await client.messages.batches.create(
        requests=[request("one", "hello"), request("two", "there")]
    )
    assert created.id.startswith("msgbatch_")
    assert created.type == "message_batch"
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == 2
    assert created.request_counts.succeeded == 0
    assert created.ended_at is None and created.results_url is None
    assert created.cancel_initiated_at is None and created.archived_at is None
    assert created.expires_at - created.created_at == timedelta(hours=24)
    with pytest.raises(anthropic.AnthropicError, match="finished processing"):
        await client.messages.batches.results(created.id)  # the SDK's own check

    ended = await wait_ended(client, created.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.model_dump() == {
        "processing": 0, "succeeded": 2, "errored": 0, "canceled": 0, "expired": 0,
    }  # fmt: skip
    assert ended.ended_at is not None
    elapsed = (ended.ended_at - ended.created_at).total_seconds()
    assert elapsed == pytest.approx(0.3, abs=1e-3)  # the scheduled end, not the poll's time
    assert ended.results_url == f"{sim.url}/v1/messages/batches/{created.id}/results"


async def test_results_follow_the_scenario_per_request(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(
        batches={"processing_s": 0.1, "expire_match": "SLOW"},
        rules=[
            {"match": "BUSY", "error": "overloaded"},
            {"match": "STUCK", "error": "timeout"},
            {"match": "commit", "answer": "fix: handle empty input", "confidence": 0.9},
        ],
    )
    client = make_client(sim)
    batch = await client.messages.batches.create(
        requests=[
            {"custom_id": "ok", "params": answer_args("a commit message please")},
            request("busy", "BUSY now"),
            request("slow", "SLOW one"),
            request("stuck", "STUCK one"),
            request("invalid", "hi", temperature=3),
        ]
    )
    ended = await wait_ended(client, batch.id)
    assert ended.request_counts.model_dump() == {
        "processing": 0, "succeeded": 1, "errored": 2, "canceled": 0, "expired": 2,
    }  # fmt: skip
    results = {
        line.custom_id: line.result
        async for line in await client.messages.batches.results(batch.id)
    }
    assert sorted(results) == ["busy", "invalid", "ok", "slow", "stuck"]

    ok = results["ok"]
    assert ok.type == "succeeded"
    synchronous = await client.messages.create(**answer_args("a commit message please"))
    assert ok.message.model_dump(exclude={"id", "content"}) == synchronous.model_dump(
        exclude={"id", "content"}
    )
    (block,) = ok.message.content
    assert block.type == "tool_use"
    assert block.input == {
        "answer": "fix: handle empty input", "confidence": 0.9, "reasoning": "scenario rule",
    }  # fmt: skip

    busy = results["busy"]
    assert busy.type == "errored"
    assert (busy.error.type, busy.error.error.type) == ("error", "overloaded_error")
    invalid = results["invalid"]
    assert invalid.type == "errored"
    assert invalid.error.error.type == "invalid_request_error"
    assert "temperature" in invalid.error.error.message
    assert results["slow"].type == "expired"
    assert results["stuck"].type == "expired"  # a call that never answers is left to expire


async def test_results_before_the_end_are_the_apis_error(start_sim: StartSim) -> None:
    sim = await start_sim(batches={"processing_s": 60})
    headers = {"x-api-key": "test-key"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(
            f"{sim.url}/v1/messages/batches", json={"requests": [request("a", "x")]}
        ) as response:
            assert response.status == 200
            batch_id = (await response.json())["id"]
        async with session.get(f"{sim.url}/v1/messages/batches/{batch_id}/results") as response:
            assert response.status == 400
            body = await response.json()
        assert body["error"]["type"] == "invalid_request_error"
        assert "not finished processing" in body["error"]["message"]
        async with session.get(f"{sim.url}/v1/messages/batches/msgbatch_nope") as response:
            assert response.status == 404
            assert (await response.json())["error"]["type"] == "not_found_error"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.url}/v1/messages/batches") as response,
    ):
        assert response.status == 401


async def test_a_bad_batch_is_refused_at_create(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim()
    client = make_client(sim)
    bad_bodies = [
        [request("same", "x"), request("same", "y")],
        [request("has space", "x")],
        [{"custom_id": "a", "params": "not an object"}],
        [],
    ]
    for requests in bad_bodies:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        assert caught.value.type == "invalid_request_error"
    page = await client.messages.batches.list()
    assert page.data == []


async def test_cancel_is_canceling_then_ended_with_the_requests_canceled(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(batches={"processing_s": 60})
    client = make_client(sim)
    batch = await client.messages.batches.create(requests=[request("a", "x"), request("b", "y")])
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    ended = await wait_ended(client, batch.id)
    assert ended.request_counts.canceled == 2
    assert ended.results_url is not None
    results = [line async for line in await client.messages.batches.results(batch.id)]
    assert [(line.custom_id, line.result.type) for line in results] == [
        ("a", "canceled"),
        ("b", "canceled"),
    ]
    assert sim.calls == []  # nothing reached the model
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.cancel(batch.id)


async def test_list_pages_newest_first(start_sim: StartSim, make_client: MakeClient) -> None:
    sim = await start_sim(batches={"processing_s": 60})
    client = make_client(sim)
    ids = [
        (await client.messages.batches.create(requests=[request("a", str(n))])).id for n in range(5)
    ]
    first = await client.messages.batches.list(limit=2)
    assert [batch.id for batch in first.data] == [ids[4], ids[3]]
    assert (first.has_more, first.first_id, first.last_id) == (True, ids[4], ids[3])
    assert [batch.id async for batch in client.messages.batches.list(limit=2)] == ids[::-1]
    before = await client.messages.batches.list(limit=2, before_id=ids[1])
    assert [batch.id for batch in before.data] == [ids[3], ids[2]]
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.batches.list(limit=1001)


async def test_only_an_ended_batch_can_be_deleted(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(batches={"processing_s": 60})
    client = make_client(sim)
    batch = await client.messages.batches.create(requests=[request("a", "x")])
    with pytest.raises(anthropic.BadRequestError, match="cancel it before deleting"):
        await client.messages.batches.delete(batch.id)
    await client.messages.batches.cancel(batch.id)
    await wait_ended(client, batch.id)
    deleted = await client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.retrieve(batch.id)


async def test_batch_requests_are_calls_sharing_the_rules_counters(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(
        batches={"processing_s": 0.1},
        rules=[{"match": "BUSY", "error": "overloaded", "times": 1}],
    )
    client = make_client(sim)
    batch = await client.messages.batches.create(
        requests=[request("a", "BUSY"), request("b", "BUSY")]
    )
    await client.messages.create(**params("sync"))
    await asyncio.sleep(0.15)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.url}/_sim/calls") as response,
    ):
        calls = await response.json()
    assert [(c["last_user"], c["status"], c["batch"]) for c in calls] == [
        ("sync", 200, None),
        ("BUSY", 529, batch.id),  # the rule's one failure goes to the first request
        ("BUSY", 200, batch.id),
    ]
    assert all(c["retry"] == 0 for c in calls)
