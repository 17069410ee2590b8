"""The routing pipeline end to end: real tansu broker, simulator over HTTP, worker process."""

from __future__ import annotations

import base64
import io
import json
import uuid
from typing import Any

import fastavro
import pytest
from aiokafka.partitioner import murmur2

from streamrouter.client import StreamClient
from streamrouter.codec import encode
from streamrouter.embedded.stack import EmbeddedStack
from streamrouter.events import Attempt, DeadLetter, LLMResult

from .conftest import MAX_PROMPT_CHARS, PARTITIONS, RESULT_TIMEOUT_S, model_calls, new_request

pytestmark = pytest.mark.e2e


async def result_of(client: StreamClient, request_id: str) -> LLMResult:
    found = await client.wait_for_results([request_id], RESULT_TIMEOUT_S)
    return found[request_id][0]


def assert_priced(result: LLMResult) -> None:
    for attempt in result.attempts:
        if attempt.outcome in ("classified", "answered", "escalated"):
            assert attempt.input_tokens > 0 and attempt.output_tokens > 0, attempt
            assert attempt.cost_usd > 0, attempt
    assert result.total_cost_usd == pytest.approx(sum(a.cost_usd for a in result.attempts))


async def test_task_typed_request_is_answered_by_haiku_without_a_classifier_call(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    request = new_request("E2E-COMMIT", task_type="commit_message")
    await client.send(request)

    result = await result_of(client, request.request_id)

    assert result.status == "ok"
    assert (result.tier, result.model) == ("haiku", "claude-haiku-4-5")
    assert result.route is not None and result.route.strategy == "task_map"
    assert result.answer == "fix: handle empty input"
    assert [a.outcome for a in result.attempts] == ["answered"]
    assert [c["kind"] for c in model_calls(stack, request.request_id)] == ["answer"]
    assert_priced(result)


async def test_request_classified_hard_goes_to_opus(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    request = new_request("E2E-HARD", text="design a consensus protocol")
    await client.send(request)

    result = await result_of(client, request.request_id)

    assert result.status == "ok"
    assert (result.tier, result.model) == ("opus", "claude-opus-4-7")
    assert result.route is not None
    assert (result.route.strategy, result.route.complexity) == ("classifier", "hard")
    assert [(a.tier, a.outcome) for a in result.attempts] == [
        ("haiku", "classified"),
        ("opus", "answered"),
    ]
    calls = model_calls(stack, request.request_id)
    assert [(c["model"], c["kind"]) for c in calls] == [
        ("claude-haiku-4-5", "classify"),
        ("claude-opus-4-7", "answer"),
    ]
    assert_priced(result)


async def test_unsure_haiku_answer_escalates_to_sonnet(client: StreamClient) -> None:
    request = new_request("E2E-ESCALATE", task_type="summarize")
    await client.send(request)

    result = await result_of(client, request.request_id)

    assert result.status == "ok" and result.escalated
    assert (result.tier, result.model) == ("sonnet", "claude-sonnet-4-6")
    assert [(a.tier, a.outcome) for a in result.attempts] == [
        ("haiku", "escalated"),
        ("sonnet", "answered"),
    ]
    haiku, sonnet = result.attempts
    assert haiku.confidence is not None and haiku.confidence < 0.85
    assert sonnet.confidence is not None and sonnet.confidence >= 0.80
    assert result.answer == "A race between the fixture teardown and the worker thread."
    assert_priced(result)


async def test_overloaded_top_tier_falls_back(stack: EmbeddedStack, client: StreamClient) -> None:
    request = new_request("E2E-BUSY", task_type="architecture")
    await client.send(request)

    result = await result_of(client, request.request_id)

    assert result.status == "ok" and result.fallback_used
    assert (result.tier, result.model) == ("opus", "claude-sonnet-4-6")
    assert [(a.model, a.outcome) for a in result.attempts] == [
        ("claude-opus-4-7", "overloaded"),
        ("claude-sonnet-4-6", "answered"),
    ]
    opus_calls = [c for c in model_calls(stack, request.request_id) if "opus" in str(c["model"])]
    assert [c["status"] for c in opus_calls] == [529, 529]  # the SDK's own retry, then fallback
    assert_priced(result)


async def test_all_models_failing_ends_in_an_error_result(client: StreamClient) -> None:
    request = new_request("E2E-DOWN", tier="opus")
    await client.send(request)

    result = await result_of(client, request.request_id)

    assert result.status == "error"
    assert result.error is not None and result.error.type == "models_exhausted"
    assert result.answer is None
    assert [(a.model, a.outcome) for a in result.attempts] == [
        ("claude-opus-4-7", "failed"),
        ("claude-sonnet-4-6", "failed"),
        ("claude-haiku-4-5", "failed"),
    ]
    assert result.total_cost_usd == 0


def other_schema_avro() -> bytes:
    schema = fastavro.parse_schema(
        {"type": "record", "name": "Foo", "fields": [{"name": "foo", "type": "string"}]}
    )
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema, {"foo": "bar"})
    fingerprint = bytes.fromhex(
        fastavro.schema.fingerprint(
            fastavro.schema.to_parsing_canonical_form(schema), "CRC-64-AVRO"
        )
    )
    return b"\xc3\x01" + fingerprint + body.getvalue()


async def test_bad_input_is_dead_lettered_and_valid_requests_behind_it_are_served(
    client: StreamClient,
) -> None:
    tag = new_request("E2E-DLQ").request_id
    too_long = new_request("E2E-DLQ", text="x" * (MAX_PROMPT_CHARS + 1), task_type="summarize")
    bad = {
        f"{tag}-garbage": (b"\x00\xff garbage", "undecodable"),
        f"{tag}-schema": (other_schema_avro(), "unknown_schema"),
        f"{tag}-missing": (json.dumps({"messages": []}).encode(), "invalid_request"),
        f"{tag}-long": (encode(too_long), "invalid_request"),
    }
    for key, (value, _) in bad.items():
        await client.send_raw(key.encode(), value)
    valid = new_request("E2E-COMMIT", task_type="commit_message")
    # As a kcat user would: JSON, and no key (the service re-keys it by request_id).
    await client.send_raw(None, valid.model_dump_json().encode())

    result = await result_of(client, valid.request_id)
    dead = await dead_letters(client, set(bad))

    assert result.status == "ok"
    assert {key: d.error_type for key, d in dead.items()} == {k: v[1] for k, v in bad.items()}
    assert "request_id" in dead[f"{tag}-missing"].error_message
    assert "over the limit" in dead[f"{tag}-long"].error_message
    for key, letter in dead.items():
        assert letter.value == bad[key][0] and letter.topic == "llm.requests"


async def dead_letters(client: StreamClient, keys: set[str]) -> dict[str, DeadLetter]:
    import asyncio

    found: dict[str, DeadLetter] = {}

    async def collect() -> None:
        async for letter in client.dead_letters():
            key = (letter.key or b"").decode()
            if key in keys:
                found[key] = letter
                if found.keys() == keys:
                    return

    await asyncio.wait_for(collect(), RESULT_TIMEOUT_S)
    return found


def key_on_same_partition(key: str, prefix: str) -> str:
    """A request id that hashes to ``key``'s partition (Kafka's default partitioner)."""
    target = murmur2(key.encode()) & 0x7FFFFFFF
    for n in range(10_000):
        candidate = f"{prefix}-{n}"
        if (murmur2(candidate.encode()) & 0x7FFFFFFF) % PARTITIONS == target % PARTITIONS:
            return candidate
    raise AssertionError("no key found")


async def test_same_request_id_twice_yields_one_result_and_one_set_of_calls(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    request = new_request("E2E-DUP", task_type="summarize")
    await client.send(request)
    await client.send(request)
    first = await result_of(client, request.request_id)
    await client.send(request)  # again, after it was finished
    # A later request on the same partition: once it is answered, the admit agent has
    # already seen (and dropped) every copy sent before it.
    sentinel = new_request("E2E-COMMIT", task_type="commit_message").model_copy(
        update={"request_id": key_on_same_partition(request.request_id, "sentinel")}
    )
    await client.send(sentinel)
    await result_of(client, sentinel.request_id)

    found = await client.wait_for_results([request.request_id], RESULT_TIMEOUT_S)

    assert first.status == "ok"
    assert len(found[request.request_id]) == 1
    assert len(model_calls(stack, request.request_id)) == 1


async def test_a_tier_serves_many_requests_at_once(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    requests = [new_request("E2E-SLOW", task_type="summarize") for _ in range(12)]
    for request in requests:
        await client.send(request)

    found = await client.wait_for_results([r.request_id for r in requests], RESULT_TIMEOUT_S)

    assert all(results[0].status == "ok" for results in found.values())
    calls = [c for r in requests for c in model_calls(stack, r.request_id)]
    # Each call takes 400 ms in the simulator; one-at-a-time would never overlap them.
    assert max(int(c["in_flight"]) for c in calls) >= 4


def png_block(width: int, height: int) -> dict[str, Any]:
    """An image block of a small base64 PNG: its signature and IHDR, all the simulator
    reads of an image."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    raw = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + ihdr + b"\x00" * 4
    data = base64.b64encode(raw).decode()
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


def answer_attempt(result: LLMResult) -> Attempt:
    (attempt,) = (a for a in result.attempts if a.outcome == "answered")
    return attempt


async def test_content_blocks_published_as_json_reach_the_model(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    # A body written for client.messages.create, plus the routing fields, as kcat sends it.
    marker = f"E2E-BLOCKS [blocks-{uuid.uuid4().hex[:8]}]"
    image = png_block(300, 250)
    body = {
        "request_id": marker.split("[")[1].rstrip("]"),
        "task_type": "summarize",
        "model": "claude-opus-4-7",
        "max_tokens": 300,
        "temperature": 0.2,
        "stop_sequences": ["###"],
        "metadata": {"user_id": "user-1"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": f"{marker} describe"}, image]}
        ],
    }
    # The same text without the image: what the image adds to the call is its tokens.
    twin_marker = marker.replace("blocks-", "twin-")
    twin = {
        **body,
        "request_id": twin_marker.split("[")[1].rstrip("]"),
        "messages": [{"role": "user", "content": f"{twin_marker} describe"}],
    }
    for request in (body, twin):
        await client.send_raw(request["request_id"].encode(), json.dumps(request).encode())

    result = await result_of(client, body["request_id"])
    plain = await result_of(client, twin["request_id"])

    assert (result.status, result.tier) == ("ok", "haiku"), result.error
    assert plain.status == "ok"
    # The simulator counts 300 x 250 / 750 = 100 tokens for the image it received and
    # checked (its media type against its bytes): the block reached the model call.
    image_tokens = answer_attempt(result).input_tokens - answer_attempt(plain).input_tokens
    assert 95 <= image_tokens <= 110, image_tokens
    (call,) = model_calls(stack, body["request_id"])
    assert (call["kind"], call["status"]) == ("answer", 200)
    assert call["last_user"] == f"{marker} describe"  # the text of the text blocks
    assert call["blocks"] == ["text", "image"]
    parameters = {"temperature": 0.2, "stop_sequences": ["###"], "metadata": {"user_id": "user-1"}}
    assert call["parameters"] == parameters


async def test_the_escalated_tier_gets_the_same_blocks_and_parameters(
    stack: EmbeddedStack, client: StreamClient
) -> None:
    request_id = f"esc-blocks-{uuid.uuid4().hex[:8]}"
    image = png_block(64, 64)
    body = {
        "request_id": request_id,
        "task_type": "summarize",
        "max_tokens": 300,
        "temperature": 0.7,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": f"E2E-ESCALATE [{request_id}] why"}, image],
            }
        ],
    }
    await client.send_raw(request_id.encode(), json.dumps(body).encode())
    result = await result_of(client, request_id)

    assert (result.status, result.tier, result.escalated) == ("ok", "sonnet", True)
    calls = [c for c in model_calls(stack, request_id) if c["kind"] == "answer"]
    assert [c["model"] for c in calls] == ["claude-haiku-4-5", "claude-sonnet-4-6"]
    parameters = {"temperature": 0.7, "top_p": 0.9, "stop_sequences": ["END"]}
    assert [c["parameters"] for c in calls] == [parameters, parameters]
    # The same blocks; the escalated call adds the draft as one more text block.
    assert [c["blocks"] for c in calls] == [["text", "image"], ["text", "image", "text"]]


async def test_requests_the_service_cannot_serve_are_dead_lettered_with_the_field(
    client: StreamClient,
) -> None:
    tag = f"blocks-dlq-{uuid.uuid4().hex[:8]}"
    text = {"type": "text", "text": "x"}
    bad = {
        f"{tag}-count": ({"messages": [{"role": "user", "content": [text] * 1001}]}, "content"),
        f"{tag}-tool-choice": (
            {
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "t", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "search"},
            },
            "tool_choice.name: 'search' is not one of the tools",
        ),
        f"{tag}-type": (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0]: unknown content block type",
        ),
    }
    for key, (fields, _) in bad.items():
        await client.send_raw(key.encode(), json.dumps({"request_id": key, **fields}).encode())

    dead = await dead_letters(client, set(bad))

    assert {d.error_type for d in dead.values()} == {"invalid_request"}
    assert "more than 1000 content blocks" in dead[f"{tag}-count"].error_message
    for key, (_, reason) in bad.items():
        assert reason in dead[key].error_message, dead[key].error_message


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


async def test_a_tool_using_turn_and_its_tool_result_follow_up(client: StreamClient) -> None:
    first_id, second_id = (f"tool-{n}-{uuid.uuid4().hex[:8]}" for n in (1, 2))
    question = {"role": "user", "content": f"E2E-TOOL [{first_id}] weather in Paris?"}
    first = {
        "request_id": first_id,
        "task_type": "summarize",
        "max_tokens": 300,
        "tools": [WEATHER_TOOL],
        "messages": [question],
    }
    await client.send_raw(first_id.encode(), json.dumps(first).encode())
    result = await result_of(client, first_id)

    assert (result.status, result.tier, result.stop_reason) == ("ok", "haiku", "tool_use")
    (tool_use,) = [block for block in result.content if block.type == "tool_use"]
    call = tool_use.model_dump(exclude_none=True)
    assert (call["name"], call["input"]) == ("get_weather", {"city": "Paris"})

    tool_result = {"type": "tool_result", "tool_use_id": call["id"], "content": "18 C"}
    follow_up = {
        **first,
        "request_id": second_id,
        "messages": [
            question,
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [tool_result, {"type": "text", "text": f"[{second_id}]"}]},
        ],
    }
    await client.send_raw(second_id.encode(), json.dumps(follow_up).encode())
    answered = await result_of(client, second_id)

    assert (answered.status, answered.stop_reason) == ("ok", "end_turn"), answered.error
    assert answered.answer and [block.type for block in answered.content] == ["text"]
