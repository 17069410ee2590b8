"""The Messages API's request shapes: accepted, read, and rejected like the real API (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from streamrouter.sim.content import last_user_text
from streamrouter.sim.request import parse_count_request, parse_request

from .media import b64, image_block, jpeg, pdf, pdf_block, png

HAIKU = "claude-haiku-4-5"
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "cache_control": {"type": "ephemeral"},
}


def tool_use(tool_id: str = "toolu_01") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {"city": "Oslo"}}


def tool_result(tool_id: str = "toolu_01", content: Any = "12 C, rain") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content}


def full_body() -> dict[str, Any]:
    """Every shape at once: what a ``client.messages.create`` call may send."""
    return {
        "model": HAIKU,
        "max_tokens": 4096,
        "system": [
            {"type": "text", "text": "You extract data.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    image_block(png(800, 600)),
                    image_block(jpeg(100, 100), "image/jpeg"),
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.gif"}},
                    pdf_block(2),
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                        "citations": {"enabled": True},
                    },
                    {
                        "type": "document",
                        "source": {"type": "content", "content": [{"type": "text", "text": "a"}]},
                    },
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, tool_use()]},
            {
                "role": "user",
                "content": [
                    tool_result(content=[{"type": "text", "text": "12 C, rain"}]),
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
        "tools": [WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["\n\nHuman:"],
        "service_tier": "auto",
        "metadata": {"user_id": "u-123"},
    }


def test_every_messages_api_shape_is_accepted_and_read() -> None:
    body = full_body()
    request = parse_request(body)
    assert (request.kind, request.mode, request.tool_choice) == ("text", "text", "auto")
    assert request.last_user == "12 C, rain\nAnd tomorrow?"
    assert request.tool_names == ("get_weather", "web_search")
    assert request.stop_sequences == ("\n\nHuman:",)
    assert request.input_tokens == parse_count_request(body) > 2 * 2000
    thinking = {**body, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    del thinking["temperature"], thinking["top_k"]
    assert parse_request(thinking).kind == "text"


def test_last_user_text_is_the_last_user_turn_with_tool_results() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": [tool_use()]},
        {"role": "user", "content": [tool_result(content="sunny")]},
        {"role": "user", "content": "thanks"},  # one turn with the message before
        {"role": "assistant", "content": "The weather is"},  # prefill
    ]
    assert last_user_text(messages) == "sunny\nthanks"
    assert last_user_text("junk") == last_user_text([{"role": "user"}]) == ""


def _set(path: str, value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


_DELETE = object()
BAD_PNG = {"type": "base64", "media_type": "image/tiff", "data": b64(png(1, 1))}
LIE = {"type": "base64", "media_type": "image/jpeg", "data": b64(png(1, 1))}
HUGE = {"type": "base64", "media_type": "image/png", "data": "A" * (5 * 1024 * 1024 + 4)}
WIDE = {"type": "base64", "media_type": "image/png", "data": b64(png(9000, 10))}
NOT_PDF = {"type": "base64", "media_type": "application/pdf", "data": b64(b"hello")}
LONG_PDF = {"type": "base64", "media_type": "application/pdf", "data": b64(pdf(101))}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_set("messages.0.role", "assistant"), 'first message must use the "user" role'),
        (_set("messages.0.role", "robot"), r"messages\.0: expected an object with role"),
        (_set("messages.0.content.0", {"type": "video"}), r"messages\.0\.content\.0\.type: unkn"),
        (_set("messages.0.content.0.text", "  "), r"content\.0\.text: .*non-whitespace"),
        (_set("messages.0.content", []), r"messages\.0: all messages must have non-empty"),
        (_set("messages.0.content.1.source", BAD_PNG), r"image\.source\.base64\.media_type"),
        (_set("messages.0.content.1.source", LIE), r"image/jpeg media type, but .* image/png"),
        (_set("messages.0.content.1.source", HUGE), r"image\.source\.base64: image exceeds 5 MB"),
        (_set("messages.0.content.1.source", WIDE), r"8000 pixels"),
        (_set("messages.0.content.1.source.data", "!!"), r"base64\.data: not valid base64"),
        (_set("messages.0.content.3.source", {"type": "url", "url": "ftp://x"}), r"source\.url"),
        (_set("messages.0.content.4.source", NOT_PDF), r"PDF specified was not valid"),
        (_set("messages.0.content.4.source", LONG_PDF), r"maximum of 100 PDF pages"),
        (_set("messages.0.content.5.source.media_type", "text/html"), r"text\.media_type"),
        (_set("messages.2.content.0.tool_use_id", "toolu_x"), r"messages\.2\.content\.0: unexp"),
        (_set("messages.2.content.0", {"type": "text", "text": "no"}), r"messages\.2: `tool_use"),
        (_set("messages.1.content.1.input", "x"), r"content\.1\.input: Field required"),
        (_set("messages.0.content.0", tool_use()), r"tool_use blocks only go in assistant"),
        (_set("messages.1.content.0", tool_result()), r"tool_result blocks only go in user"),
        (_set("messages.1.content.0", tool_use()), r"`tool_use` ids must be unique"),
        (_set("messages.2.content.0.content", 7), r"content\.0\.content: expected a string"),
        (_set("system", [{"type": "image"}]), r"system\.0\.type"),
        (_set("system", 5), r"system: expected"),
        (_set("temperature", 1.5), r"temperature: Input should be less than or equal to 1"),
        (_set("temperature", "hot"), r"temperature: Input should be a valid number"),
        (_set("top_p", -0.1), r"top_p: Input should be greater than or equal to 0"),
        (_set("top_k", -1), r"top_k: Input should be greater"),
        (_set("top_k", 1.5), r"top_k: Input should be a valid integer"),
        (_set("stop_sequences", [" "]), r"stop_sequences: each stop sequence"),
        (_set("stop_sequences", "END"), r"stop_sequences: Input should be a list"),
        (_set("service_tier", "priority"), r"service_tier"),
        (_set("metadata", {"user_id": "u", "tenant": "t"}), r"metadata\.tenant: Extra inputs"),
        (_set("temprature", 0.5), r"temprature: Extra inputs are not permitted"),
        (_set("tools.0.name", "get weather"), r"tools\.0\.custom\.name: String should match"),
        (_set("tools.0.input_schema", {"type": "array"}), r"tools\.0\.custom\.input_schema"),
        (_set("tools.1", WEATHER_TOOL), r"tools: Tool names must be unique"),
        (_set("tools", _DELETE), r"`tool_use` or `tool_result` blocks must define tools"),
        (_set("tool_choice", {"type": "sometimes"}), r"tool_choice\.type"),
        (_set("tool_choice", {"type": "tool", "name": "nope"}), r"tool_choice\.name: tool 'nope'"),
        (_set("thinking", {"type": "enabled", "budget_tokens": 100}), r"budget_tokens"),
        (_set("thinking", {"type": "enabled", "budget_tokens": 5000}), r"max_tokens: must be"),
        (_set("thinking", {"type": "sometimes"}), r"thinking\.type"),
        (_set("thinking", {"type": "enabled", "budget_tokens": 2048}), r"temperature: may only"),
    ],
)
def test_what_the_api_rejects_is_rejected_naming_the_field(change: Any, problem: str) -> None:
    body = copy.deepcopy(full_body())
    change(body)
    with pytest.raises(ValueError, match=problem):
        parse_request(body)


def test_forced_tool_with_thinking_and_tool_choice_without_tools_are_rejected() -> None:
    body = {"model": HAIKU, "max_tokens": 4096, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(ValueError, match="tool_choice: may only be specified"):
        parse_request({**body, "tool_choice": {"type": "any"}})
    forced = {
        **body,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    with pytest.raises(ValueError, match="Thinking may not be enabled"):
        parse_request(forced)


def test_final_assistant_prefill_may_be_empty_but_not_end_in_whitespace() -> None:
    body = {"model": HAIKU, "max_tokens": 50, "messages": [{"role": "user", "content": "x"}]}
    prefill = {"role": "assistant", "content": "The answer is"}
    assert parse_request({**body, "messages": [*body["messages"], prefill]}).last_user == "x"
    trailing = {"role": "assistant", "content": "The answer is "}
    with pytest.raises(ValueError, match="trailing whitespace"):
        parse_request({**body, "messages": [*body["messages"], trailing]})


def test_too_many_images_are_rejected() -> None:
    blocks = [image_block(png(10, 10)) for _ in range(101)]
    body = {"model": HAIKU, "max_tokens": 50, "messages": [{"role": "user", "content": blocks}]}
    with pytest.raises(ValueError, match="too many images"):
        parse_request(body)
