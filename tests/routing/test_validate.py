from __future__ import annotations

import base64
from typing import Any

import pytest

from streamrouter.errors import InvalidEventError, InvalidRequestError
from streamrouter.events import LLMRequest, Message
from streamrouter.routing.validate import RequestLimits, validate_request

TIERS = ("haiku", "sonnet", "opus")
LIMITS = RequestLimits(max_prompt_chars=100, max_output_tokens=2000)


def user(content: str) -> Message:
    return Message(role="user", content=content)


def assistant(content: str) -> Message:
    return Message(role="assistant", content=content)


def request(**fields: Any) -> LLMRequest:
    fields.setdefault("request_id", "r1")
    fields.setdefault("messages", [user("hello")])
    return LLMRequest(**fields)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"messages": [user("a"), assistant("b"), user("c")]},
        {"tier": "haiku"},
        {"tier": "opus"},
        {"task_type": "no_such_task"},  # unknown task types go to the classifier
        {"messages": [user("x" * 100)]},  # exactly at the limit
        {"system": "s" * 40, "messages": [user("u" * 30), assistant("a" * 10), user("u" * 20)]},
        {"max_tokens": 1},
        {"max_tokens": 2000},
        {"request_id": " padded "},
    ],
)
def test_valid_requests_pass(fields: dict[str, Any]) -> None:
    validate_request(request(**fields), LIMITS, TIERS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"request_id": " "}, "request_id is empty"),
        ({"request_id": "\t\n"}, "request_id is empty"),
        ({"messages": []}, "messages is empty"),
        ({"messages": [user("q"), assistant("a")]}, "the last message must come from the user"),
        ({"messages": [assistant("a")]}, "messages[0].role: the first message must come from"),
        (
            {"messages": [assistant("context"), user("question")]},
            "messages[0].role: the first message must come from the user",
        ),
        (
            {"messages": [user("x" * 101)]},
            "prompt is 101 characters, over the limit of 100",
        ),
        (
            # The system prompt and every message count, not just the last one.
            {"system": "s" * 51, "messages": [user("u" * 25), assistant("a"), user("u" * 24)]},
            "prompt is 101 characters, over the limit of 100",
        ),
        ({"max_tokens": 2001}, "max_tokens 2001 is outside 1..2000"),
        ({"max_tokens": 10**9}, "max_tokens 1000000000 is outside 1..2000"),
        ({"tier": "gpt"}, "unknown tier 'gpt'; tiers are ['haiku', 'sonnet', 'opus']"),
        ({"tier": "Haiku"}, "unknown tier 'Haiku'"),
        ({"tier": ""}, "unknown tier ''"),
    ],
)
def test_invalid_requests_raise(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_request(request(**fields), LIMITS, TIERS)
    assert message in str(info.value)
    assert isinstance(info.value, InvalidEventError)
    assert info.value.error_type == "invalid_request"


def test_max_tokens_zero_is_rejected_even_if_constructed_unchecked() -> None:
    # The model forbids 0 already; validate_request must not rely on that alone.
    unchecked = LLMRequest.model_construct(
        **{**request().model_dump(), "messages": [user("hi")], "max_tokens": 0}
    )
    with pytest.raises(InvalidRequestError, match=r"max_tokens 0 is outside 1\.\.2000"):
        validate_request(unchecked, LIMITS, TIERS)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # Several rules broken: the first one in contract order is named.
        ({"messages": [], "tier": "gpt"}, "messages is empty"),
        ({"messages": [user("x" * 200), assistant("a")]}, "last message"),
        ({"messages": [user("x" * 200)], "max_tokens": 5000}, "prompt is 200 characters"),
        ({"max_tokens": 5000, "tier": "gpt"}, "max_tokens 5000"),
    ],
)
def test_first_broken_rule_is_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        validate_request(request(**fields), LIMITS, TIERS)


@pytest.mark.parametrize(
    ("tiers", "tier", "ok"),
    [
        (("small", "big"), "big", True),
        (("small", "big"), "opus", False),
        (("only",), "only", True),
    ],
)
def test_pinned_tier_is_checked_against_the_given_tiers(
    tiers: tuple[str, ...], tier: str, ok: bool
) -> None:
    if ok:
        validate_request(request(tier=tier), LIMITS, tiers)
    else:
        with pytest.raises(InvalidRequestError, match="unknown tier"):
            validate_request(request(tier=tier), LIMITS, tiers)


@pytest.mark.parametrize(
    "messages",
    [
        [user("")],
        [user("   \n")],
        [user("question"), assistant(""), user("again")],
    ],
)
def test_blank_message_content_is_invalid(messages: list[Message]) -> None:
    with pytest.raises(InvalidRequestError):
        validate_request(request(messages=messages), LIMITS, TIERS)


# --- content blocks and the Messages API's parameters ---------------------------------------

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 92).decode()  # 100 bytes


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def image(data: str = PNG, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def pdf(data: str) -> dict[str, Any]:
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": data},
    }


def tool_use(tool_id: str = "tu_1") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": "lookup", "input": {"q": "x"}}


def tool_result(tool_id: str = "tu_1", content: Any = "42") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content}


def blocks(role: str, *content: dict[str, Any]) -> Message:
    return Message.model_validate({"role": role, "content": list(content)})


BLOCK_LIMITS = RequestLimits(
    max_prompt_chars=100, max_output_tokens=2000, max_content_blocks=5, max_media_bytes=100
)


@pytest.mark.parametrize(
    "fields",
    [
        {"messages": [blocks("user", text("a"), image())]},
        {"messages": [blocks("user", *[text("a")] * 5)]},  # exactly at the block limit
        {"messages": [blocks("user", pdf(PNG))]},  # 100 bytes: at the byte limit
        {"system": [text("s")], "messages": [blocks("user", *[text("a")] * 4)]},
        {"messages": [user("a"), blocks("assistant", tool_use()), blocks("user", tool_result())]},
        {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "stop_sequences": ["END"]},
        {"service_tier": "auto", "metadata": {"user_id": "u"}},
    ],
)
def test_valid_block_requests_pass(fields: dict[str, Any]) -> None:
    validate_request(request(**fields), BLOCK_LIMITS, TIERS)


TOOLS = [{"name": "lookup", "input_schema": {"type": "object"}}]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"messages": [blocks("user", *[text("a")] * 6)]},
            "messages[0].content[5]: more than 5 content blocks in the request",
        ),
        (
            {"system": [text("s")] * 3, "messages": [blocks("user", *[text("a")] * 3)]},
            "messages[0].content[2]: more than 5 content blocks",
        ),
        (
            {"messages": [blocks("user", tool_result(content=[text("a")] * 6))]},
            "messages[0].content[0].content[4]: more than 5 content blocks",
        ),
        (
            {
                "messages": [
                    blocks("user", image(base64.b64encode(b"\x89PNG" + b"\x00" * 99).decode()))
                ]
            },
            "messages[0].content[0].source.data: 103 bytes, over the limit of 100",
        ),
        (
            {"messages": [blocks("user", text("a"), pdf("A" * 200))]},
            "messages[0].content[1].source.data: 150 bytes, over the limit of 100",
        ),
        (
            {"messages": [blocks("user", image("not base64!"))]},
            "messages[0].content[0].source.data: not valid base64",
        ),
        ({"messages": [blocks("user", text(" "))]}, "messages[0].content[0].text is empty"),
        ({"system": [text("")]}, "system[0].text is empty"),
        ({"messages": [Message(role="user", content=[])]}, "messages[0].content is empty"),
        (
            {"messages": [blocks("user", text("a" * 60)), assistant("b"), user("c" * 40)]},
            "prompt is 101 characters",
        ),
        (
            {"messages": [blocks("user", tool_result())]},
            "messages[0].content[0].tool_use_id: 'tu_1' answers no tool_use of the message",
        ),
        (
            {
                "messages": [
                    user("a"),
                    blocks("assistant", tool_use("tu_1")),
                    blocks("user", tool_result("tu_2")),
                ]
            },
            "messages[2].content[0].tool_use_id: 'tu_2'",
        ),
        (
            {
                "messages": [
                    user("a"),
                    blocks("assistant", tool_use()),
                    user("b"),
                    assistant("c"),
                    blocks("user", tool_result()),
                ]
            },
            "messages[4].content[0].tool_use_id",  # answers an earlier turn, not the last
        ),
        (
            {"messages": [blocks("user", tool_use())]},
            "messages[0].content[0]: tool_use blocks come from the assistant",
        ),
        (
            {"messages": [user("a"), blocks("assistant", tool_result()), user("b")]},
            "messages[1].content[0]: tool_result blocks come from the user",
        ),
        ({"stop_sequences": ["ok", "  "]}, "stop_sequences[1] is blank"),
        ({"tools": TOOLS * 2}, "tools: tool names must be unique"),
        ({"tool_choice": {"type": "any"}}, "tool_choice: type 'any' needs tools"),
        (
            {"tools": TOOLS, "tool_choice": {"type": "tool", "name": "search"}},
            "tool_choice.name: 'search' is not one of the tools",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 4096}, "max_tokens": 2000},
            "thinking.budget_tokens must be below max_tokens",
        ),
        (
            {"thinking": {"type": "adaptive"}, "temperature": 0.5},
            "temperature: thinking allows only temperature 1",
        ),
        ({"thinking": {"type": "adaptive"}, "top_k": 5}, "top_k: thinking does not allow top_k"),
        ({"metadata": {"user_id": "u" * 257}}, "metadata.user_id: 257 characters"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "redacted_thinking", "data": "x"}]}
                ]
            },
            "messages[0].content[0]: redacted_thinking blocks come from the assistant",
        ),
    ],
)
def test_invalid_block_requests_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_request(request(**fields), BLOCK_LIMITS, TIERS)
    assert message in str(info.value)
    assert info.value.error_type == "invalid_request"


def test_default_limits_match_the_settings() -> None:
    from streamrouter.config import Settings

    limits = RequestLimits(max_prompt_chars=1, max_output_tokens=1)
    settings = Settings()
    assert (
        (limits.max_content_blocks, limits.max_media_bytes)
        == (
            settings.max_content_blocks,
            settings.max_media_bytes,
        )
        == (1000, 5 * 1024 * 1024)
    )
