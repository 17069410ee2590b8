from __future__ import annotations

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
        {"messages": [assistant("context"), user("question")]},
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
        ({"messages": [assistant("a")]}, "the last message must come from the user"),
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
