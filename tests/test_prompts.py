from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streamrouter.events import Escalation, LLMRequest, Message, SubtaskResult, WorkItem
from streamrouter.llm.client import _request_body
from streamrouter.prompts import (
    ANSWER_INSTRUCTIONS,
    CLASSIFY_EXCERPT_CHARS,
    NO_TEXT,
    answer_call,
    classify_call,
    plan_call,
    synthesis_call,
)
from streamrouter.routing.answer import ANSWER_TOOL_NAME, answer_tool
from streamrouter.routing.classifier import CLASSIFIER_SYSTEM, CLASSIFY_TOOL_NAME, classify_tool

TIERS = ("haiku", "sonnet", "opus")


def request(**fields: Any) -> LLMRequest:
    fields.setdefault("request_id", "r1")
    fields.setdefault("messages", [Message(role="user", content="What is 6*7?")])
    return LLMRequest(**fields)


def _text(content: Any) -> str:
    """The text of a string or of text blocks."""
    if content is None or isinstance(content, str):
        return content or ""
    return " ".join(block["text"] for block in content if block["type"] == "text")


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
        text = " ".join([_text(call.system)] + [_text(m["content"]) for m in call.messages])
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


INSTRUCTIONS_BLOCK = {"type": "text", "text": ANSWER_INSTRUCTIONS}


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        (None, [INSTRUCTIONS_BLOCK]),
        ("", [INSTRUCTIONS_BLOCK]),
        ("You are a pirate.", [{"type": "text", "text": "You are a pirate."}, INSTRUCTIONS_BLOCK]),
        (
            [
                {"type": "text", "text": "line1", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "line2"},
            ],
            [
                {"type": "text", "text": "line1", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "line2"},
                INSTRUCTIONS_BLOCK,
            ],
        ),
    ],
)
def test_answer_call_keeps_the_user_system_prompt_first(system: Any, expected: Any) -> None:
    # The user's system blocks as sent (cache_control kept), the service's one more block.
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
    # The user's content as its first block, the context as one more text block.
    assert last["content"][0] == {"type": "text", "text": "follow-up"}
    assert len(last["content"]) == 2 and last["content"][1]["type"] == "text"
    # Read as one text (blocks joined by newlines), a blank line and "---" still part them.
    assert last["content"][1]["text"].startswith("\n---\nA smaller model")
    for fragment in fragments:
        assert fragment in last["content"][1]["text"]
        assert fragment not in _text(escalated.system)
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
    content = answer_call(req, ESCALATION).messages[-1]["content"]
    assert _text(content).count("A smaller model") == 1


def test_answer_call_messages_are_fresh_copies() -> None:
    req = request()
    first = answer_call(req, None)
    first.messages[0]["content"] = "changed"
    assert answer_call(req, None).messages[0]["content"] == "What is 6*7?"


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("short", "short"),
        ("", NO_TEXT),  # the API refuses an empty message
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


# --- the user's request as sent: blocks and parameters reach the model call -----------------

PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
USER_BLOCKS: list[dict[str, Any]] = [
    {"type": "text", "text": "What is in the picture and the memo?"},
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
        "title": "Memo",
        "citations": {"enabled": True},
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    },
    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
]
SDK_BODY: dict[str, Any] = {  # as written for client.messages.create, plus the routing fields
    "request_id": "r-sdk",
    "tenant": "acme",
    "model": "claude-opus-4-7",
    "max_tokens": 900,
    "system": [
        {"type": "text", "text": "You read images.", "cache_control": {"type": "ephemeral"}}
    ],
    "messages": [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hi, send it."}]},
        {"role": "user", "content": USER_BLOCKS},
    ],
    "temperature": 0.2,
    "top_p": 0.8,
    "top_k": 5,
    "stop_sequences": ["###"],
    "service_tier": "standard_only",
    "metadata": {"user_id": "user-7", "team": "infra"},
}
SENT_PARAMETERS = {
    "temperature": 0.2,
    "top_p": 0.8,
    "top_k": 5,
    "stop_sequences": ["###"],
    "service_tier": "standard_only",
    "metadata": {"user_id": "user-7"},
}


def test_the_answer_call_body_carries_the_request_as_sent() -> None:
    call = answer_call(LLMRequest.model_validate(SDK_BODY), None)
    body = _request_body(call)
    assert body == {
        **SENT_PARAMETERS,
        "max_tokens": 900,
        "messages": SDK_BODY["messages"],  # blocks unchanged
        "system": [*SDK_BODY["system"], INSTRUCTIONS_BLOCK],
        "tools": [answer_tool()],
        "tool_choice": {"type": "tool", "name": ANSWER_TOOL_NAME},
    }


def test_every_tier_gets_the_same_body_only_the_model_changes() -> None:
    bodies = [
        _request_body(answer_call(LLMRequest.model_validate({**SDK_BODY, "tier": tier}), None))
        for tier in (None, *TIERS)
    ]
    assert all(body == bodies[0] for body in bodies)
    assert "model" not in bodies[0]


def test_escalation_context_is_one_more_text_block_after_the_users_blocks() -> None:
    call = answer_call(LLMRequest.model_validate(SDK_BODY), ESCALATION)
    last = call.messages[-1]["content"]
    assert last[:-1] == USER_BLOCKS
    assert last[-1]["type"] == "text" and "A smaller model (haiku)" in last[-1]["text"]
    assert call.messages[:-1] == SDK_BODY["messages"][:-1]
    assert call.parameters == SENT_PARAMETERS


def test_plan_and_synthesis_calls_carry_the_request_as_sent() -> None:
    req = LLMRequest.model_validate({**SDK_BODY, "mode": "orchestrate"})
    plan = plan_call(req, list(TIERS), 3)
    assert plan.messages == SDK_BODY["messages"]
    assert plan.system[:-1] == SDK_BODY["system"]  # type: ignore[index]
    assert plan.parameters == SENT_PARAMETERS
    parent = WorkItem(
        request=req,
        received_at=datetime(2026, 3, 1, tzinfo=UTC),
        subtask_results=[SubtaskResult(subtask_id="s1", prompt="p", status="ok", answer="A")],
    )
    synthesis = synthesis_call(parent)
    last = synthesis.messages[-1]["content"]
    assert last[:-1] == USER_BLOCKS
    assert "[s1] p" in last[-1]["text"]
    assert synthesis.parameters == SENT_PARAMETERS
    assert synthesis.system == [*SDK_BODY["system"], INSTRUCTIONS_BLOCK]


def test_the_classifier_call_stays_text_only_without_the_users_parameters() -> None:
    call = classify_call(LLMRequest.model_validate(SDK_BODY))
    # The text blocks and the plain-text document's title.
    assert call.messages == [{"role": "user", "content": USER_BLOCKS[0]["text"] + "\nMemo"}]
    assert call.parameters == {}
    assert call.system == CLASSIFIER_SYSTEM


def test_tool_turns_reach_the_model_unchanged() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "tu_1", "name": "w", "input": {"a": None}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "tu_1",
                    "content": [{"type": "text", "text": "sunny"}],
                    "is_error": False,
                }
            ],
        },
    ]
    req = LLMRequest.model_validate({"request_id": "r", "messages": messages})
    assert _request_body(answer_call(req, None))["messages"] == messages


def test_the_classifier_reads_tool_results_and_is_never_sent_an_empty_message() -> None:
    tool_use = {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {}}
    follow_up = {
        "request_id": "r",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [tool_use]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "18 C"}],
            },
        ],
    }
    call = classify_call(LLMRequest.model_validate(follow_up))
    assert call.messages == [{"role": "user", "content": "18 C"}]
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    only_image = {"request_id": "r", "messages": [{"role": "user", "content": [image]}]}
    call = classify_call(LLMRequest.model_validate(only_image))
    assert call.messages == [{"role": "user", "content": NO_TEXT}]
