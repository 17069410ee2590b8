"""Messages API shapes over HTTP through the real SDK: tool_use rules, stop sequences,
content blocks and their token counts, and the API's rejections."""

from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import pytest
from anthropic.types import TextBlock, ToolUseBlock

from .conftest import ANSWER_TOOL, MakeClient, StartSim, user
from .media import image_block, pdf_block, png
from .test_request import WEATHER_TOOL

SONNET = "claude-sonnet-4-6"
WEATHER_RULES = [
    {"match": "12 C", "answer": "Oslo: 12 C and rain."},
    {
        "match": "(?i)weather",
        "answer": "Let me check.",
        "tool_use": {"name": "get_weather", "input": {"city": "Oslo"}},
    },
]


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": SONNET, "max_tokens": 512, "messages": user(text), **extra}


async def test_a_tool_use_rule_calls_the_tool_and_the_tool_result_is_answered(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    client = make_client(await start_sim(rules=WEATHER_RULES))
    first = await client.messages.create(
        **ask("What is the weather in Oslo?", tools=[WEATHER_TOOL])
    )
    assert first.stop_reason == "tool_use"
    text, call = first.content
    assert isinstance(text, TextBlock) and text.text == "Let me check."
    assert isinstance(call, ToolUseBlock) and call.id.startswith("toolu_")
    assert (call.name, call.input) == ("get_weather", {"city": "Oslo"})

    follow_up = [
        *user("What is the weather in Oslo?"),
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "12 C, rain"}],
        },
    ]
    second = await client.messages.create(
        model=SONNET, max_tokens=512, messages=follow_up, tools=[WEATHER_TOOL]
    )
    assert second.stop_reason == "end_turn"
    assert [block.type for block in second.content] == ["text"]
    assert second.content[0].text == "Oslo: 12 C and rain."  # the rule matched the tool_result


@pytest.mark.parametrize(
    "extra",
    [
        {},  # the tool is not offered
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "none"}},
    ],
)
async def test_a_tool_use_rule_answers_in_text_when_the_tool_cannot_be_called(
    start_sim: StartSim, make_client: MakeClient, extra: dict[str, Any]
) -> None:
    client = make_client(await start_sim(rules=WEATHER_RULES))
    message = await client.messages.create(**ask("weather?", **extra))
    assert message.stop_reason == "end_turn"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Let me check."


async def test_a_forced_tool_takes_the_rules_input_and_another_forced_tool_wins(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    client = make_client(await start_sim(rules=[{**WEATHER_RULES[1], "answer": None}]))
    forced = await client.messages.create(
        **ask(
            "weather?",
            tools=[WEATHER_TOOL, ANSWER_TOOL],
            tool_choice={"type": "tool", "name": "get_weather"},
        )
    )
    (call,) = forced.content
    assert isinstance(call, ToolUseBlock) and call.input == {"city": "Oslo"}
    other = await client.messages.create(
        **ask(
            "weather?",
            tools=[WEATHER_TOOL, ANSWER_TOOL],
            tool_choice={"type": "tool", "name": "submit_answer"},
        )
    )
    (call,) = other.content
    assert isinstance(call, ToolUseBlock) and call.name == "submit_answer"
    assert set(call.input) == {"answer", "confidence", "reasoning"}
    any_tool = await client.messages.create(
        **ask("weather?", tools=[ANSWER_TOOL, WEATHER_TOOL], tool_choice={"type": "any"})
    )
    (call,) = any_tool.content
    assert isinstance(call, ToolUseBlock) and (call.name, call.input) == (
        "get_weather",
        {"city": "Oslo"},
    )


async def test_stop_sequences_cut_the_text(start_sim: StartSim, make_client: MakeClient) -> None:
    sim = await start_sim(
        rules=[{"match": "count", "answer": "one, two, three", "tool_use": {"name": "get_weather"}}]
    )
    client = make_client(sim)
    message = await client.messages.create(
        **ask("count", stop_sequences=["END", ", three"], tools=[WEATHER_TOOL])
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == ", three"
    assert [block.type for block in message.content] == ["text"]  # no tool call after the cut
    assert message.content[0].text == "one, two"
    plain = await client.messages.create(**ask("count", stop_sequences=["END"]))
    assert (plain.stop_reason, plain.stop_sequence) == ("end_turn", None)


async def test_sampling_parameters_are_accepted_and_checked(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    client = make_client(await start_sim())
    message = await client.messages.create(
        **ask("hello", service_tier="auto", metadata={"user_id": "u-1"}),
        extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 20},
    )
    assert message.stop_reason == "end_turn"
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(**ask("hello"), extra_body={"temperature": 1.5})
    assert caught.value.type == "invalid_request_error"
    assert isinstance(caught.value.body, dict) and caught.value.body["type"] == "error"
    assert caught.value.body["error"]["message"].startswith("temperature: ")


async def test_images_and_documents_are_counted_alike_in_count_tokens_and_usage(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    client = make_client(await start_sim())
    content = [{"type": "text", "text": "Extract the totals."}, image_block(png(1000, 750))]
    messages = [{"role": "user", "content": [*content, pdf_block(2)]}]
    counted = await client.messages.count_tokens(model=SONNET, messages=messages)
    message = await client.messages.create(model=SONNET, max_tokens=256, messages=messages)
    assert counted.input_tokens == message.usage.input_tokens
    assert 1000 + 2 * 2000 < counted.input_tokens < 1000 + 2 * 2000 + 20


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        (
            [{"role": "user", "content": [image_block(png(1, 1), "image/bmp")]}],
            "messages.0.content.0.image.source.base64.media_type",
        ),
        (
            [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9"}]}],
            "messages.0.content.0: unexpected `tool_use_id`",
        ),
        ([{"role": "assistant", "content": "hi"}], 'first message must use the "user" role'),
    ],
)
async def test_rejections_are_the_apis_400(
    start_sim: StartSim, make_client: MakeClient, messages: list[Any], problem: str
) -> None:
    sim = await start_sim()
    with pytest.raises(anthropic.BadRequestError) as caught:
        await make_client(sim).messages.create(
            model=SONNET, max_tokens=64, messages=messages, tools=[WEATHER_TOOL]
        )
    assert caught.value.type == "invalid_request_error"
    assert problem in str(caught.value)
    assert sim.calls[-1]["status"] == 400


async def test_a_body_over_32_mb_is_a_413_request_too_large(start_sim: StartSim) -> None:
    sim = await start_sim()
    body = b'{"model": "x", "pad": "' + b"a" * (32 * 1024 * 1024) + b'"}'
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.url}/v1/messages", data=body, headers={"x-api-key": "k"}) as response,
    ):
        assert response.status == 413
        payload = await response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == "request_too_large"
