from __future__ import annotations

from typing import Any

import pytest

from streamrouter.events import Escalation, LLMRequest, Message
from streamrouter.prompts import (
    ANSWER_INSTRUCTIONS,
    CLASSIFY_EXCERPT_CHARS,
    answer_call,
    classify_call,
)
from streamrouter.routing.answer import ANSWER_TOOL_NAME, answer_tool
from streamrouter.routing.classifier import CLASSIFIER_SYSTEM, CLASSIFY_TOOL_NAME, classify_tool

TIERS = ("haiku", "sonnet", "opus")


def request(**fields: Any) -> LLMRequest:
    fields.setdefault("request_id", "r1")
    fields.setdefault("messages", [Message(role="user", content="What is 6*7?")])
    return LLMRequest(**fields)


CONVERSATION = [
    Message(role="user", content="first question"),
    Message(role="assistant", content="first answer"),
    Message(role="user", content="follow-up"),
]

ESCALATION = Escalation(from_tier="haiku", answer="41", reasoning="added wrong", confidence=0.3333)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"system": "You are terse."},
        {"messages": CONVERSATION, "task_type": "code_review", "max_tokens": 777},
        {"tier": "haiku"},
        {"tier": "opus"},
    ],
)
def test_answer_call_is_one_prompt_whatever_the_tier(fields: dict[str, Any]) -> None:
    # The request pinned to any tier (or none) yields the identical call: only the model varies.
    calls = [answer_call(request(**{**fields, "tier": tier}), None) for tier in (None, *TIERS)]
    assert all(call == calls[0] for call in calls)
    for call in calls:
        text = " ".join([call.system or ""] + [m["content"] for m in call.messages])
        assert not any(tier in text.lower() for tier in TIERS)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [Message(role="user", content="hi")],
            [{"role": "user", "content": "hi"}],
        ),
        (
            CONVERSATION,
            [
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "first answer"},
                {"role": "user", "content": "follow-up"},
            ],
        ),
    ],
)
def test_answer_call_keeps_the_conversation(
    messages: list[Message], expected: list[dict[str, str]]
) -> None:
    call = answer_call(request(messages=messages), None)
    assert call.messages == expected
    assert call.tool == answer_tool()
    assert call.tool["name"] == ANSWER_TOOL_NAME


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        (None, ANSWER_INSTRUCTIONS),
        ("", ANSWER_INSTRUCTIONS),
        ("You are a pirate.", f"You are a pirate.\n\n{ANSWER_INSTRUCTIONS}"),
        ("line1\nline2", f"line1\nline2\n\n{ANSWER_INSTRUCTIONS}"),
    ],
)
def test_answer_call_keeps_the_user_system_prompt_first(system: str | None, expected: str) -> None:
    assert answer_call(request(system=system), None).system == expected


@pytest.mark.parametrize("max_tokens", [1, 1024, 21_000])
def test_answer_call_max_tokens(max_tokens: int) -> None:
    assert answer_call(request(max_tokens=max_tokens), None).max_tokens == max_tokens


@pytest.mark.parametrize("structured_output", ["tool", "json_schema"])
def test_structured_output_passes_through(structured_output: str) -> None:
    assert answer_call(request(), None, structured_output).structured_output == structured_output
    assert classify_call(request(), structured_output).structured_output == structured_output


def test_structured_output_defaults_to_tool() -> None:
    assert answer_call(request(), None).structured_output == "tool"
    assert classify_call(request()).structured_output == "tool"


@pytest.mark.parametrize(
    ("escalation", "fragments"),
    [
        (
            ESCALATION,
            ["A smaller model (haiku)", "confidence 0.33", "\n41\n", "Its reasoning: added wrong"],
        ),
        (
            Escalation(from_tier="sonnet", answer="maybe X", confidence=0.795),
            ["A smaller model (sonnet)", "confidence 0.80", "maybe X", "(none given)"],
        ),
    ],
)
def test_escalation_context_is_appended_to_the_last_user_message(
    escalation: Escalation, fragments: list[str]
) -> None:
    plain = answer_call(request(messages=CONVERSATION), None)
    escalated = answer_call(request(messages=CONVERSATION), escalation)
    # Earlier turns are untouched; only the last (user) message grows.
    assert escalated.messages[:-1] == plain.messages[:-1]
    last = escalated.messages[-1]
    assert last["role"] == "user"
    assert last["content"].startswith("follow-up\n\n")
    for fragment in fragments:
        assert fragment in last["content"]
        assert fragment not in (escalated.system or "")
    # Same system prompt, tool and limits as the first attempt.
    assert escalated.system == plain.system
    assert escalated.tool == plain.tool
    assert escalated.max_tokens == plain.max_tokens


def test_escalation_does_not_mutate_the_request() -> None:
    req = request(messages=CONVERSATION)
    before = req.model_dump()
    answer_call(req, ESCALATION)
    answer_call(req, ESCALATION)
    assert req.model_dump() == before
    # A second escalated call does not pile up contexts.
    assert answer_call(req, ESCALATION).messages[-1]["content"].count("A smaller model") == 1


def test_answer_call_messages_are_fresh_copies() -> None:
    req = request()
    first = answer_call(req, None)
    first.messages[0]["content"] = "changed"
    assert answer_call(req, None).messages[0]["content"] == "What is 6*7?"


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("short", "short"),
        ("", ""),
        ("x" * CLASSIFY_EXCERPT_CHARS, "x" * CLASSIFY_EXCERPT_CHARS),
        ("x" * (CLASSIFY_EXCERPT_CHARS + 1), "x" * CLASSIFY_EXCERPT_CHARS + " [...]"),
        ("ab" * 10_000, ("ab" * 10_000)[:CLASSIFY_EXCERPT_CHARS] + " [...]"),
    ],
)
def test_classify_call_truncates_long_text(text: str, sent: str) -> None:
    call = classify_call(request(messages=[Message(role="user", content=text)]))
    assert call.messages == [{"role": "user", "content": sent}]


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        ({"messages": CONVERSATION}, "follow-up"),
        ({"system": "SECRET SYSTEM", "messages": CONVERSATION}, "follow-up"),
        (
            {
                "messages": [
                    Message(role="user", content="q"),
                    Message(role="assistant", content="a"),
                ]
            },
            "q",
        ),
    ],
)
def test_classify_call_sends_only_the_last_user_text(fields: dict[str, Any], sent: str) -> None:
    call = classify_call(request(**fields))
    assert call.messages == [{"role": "user", "content": sent}]
    assert call.system == CLASSIFIER_SYSTEM
    assert call.tool == classify_tool()
    assert call.tool["name"] == CLASSIFY_TOOL_NAME
    assert call.max_tokens == 256


def test_classify_call_ignores_the_requested_max_tokens() -> None:
    assert classify_call(request(max_tokens=5)).max_tokens == 256
