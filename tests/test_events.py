from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from anthropic import types as sdk
from pydantic import TypeAdapter, ValidationError

from streamrouter.codec import decode, encode
from streamrouter.events import (
    Attempt,
    DeadLetter,
    Feedback,
    LLMRequest,
    LLMResult,
    Message,
    Route,
    WorkItem,
)
from streamrouter.result_blocks import (
    ResultBlock,
    ResultRedactedThinkingBlock,
    ResultTextBlock,
    ResultThinkingBlock,
    ResultToolUseBlock,
    result_blocks,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _request(**fields: object) -> LLMRequest:
    return LLMRequest.model_validate({"request_id": "r-1", **fields})


def test_request_defaults() -> None:
    request = _request()
    assert request.tenant == "default"
    assert request.mode == "route"
    assert request.max_tokens == 1024
    assert request.messages == []
    assert request.metadata == {}
    assert request.task_type is request.tier is request.system is request.created_at is None


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], ""),
        ([{"role": "assistant", "content": "hello"}], ""),
        ([{"role": "user", "content": "a"}], "a"),
        (
            [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": "second"},
                {"role": "assistant", "content": "prefill"},
            ],
            "second",
        ),
    ],
)
def test_last_user_text(messages: list[dict[str, str]], expected: str) -> None:
    assert _request(messages=messages).last_user_text == expected


@pytest.mark.parametrize(
    ("system", "messages", "expected"),
    [
        (None, [], 0),
        ("sys", [], 3),
        ("sys", [{"role": "user", "content": "abcd"}, {"role": "assistant", "content": "é"}], 8),
    ],
)
def test_prompt_chars(system: str | None, messages: list[dict[str, str]], expected: int) -> None:
    assert _request(system=system, messages=messages).prompt_chars == expected


def test_work_item_total_cost_sums_attempts() -> None:
    attempts = [
        Attempt(tier="haiku", model="h", outcome="classified", cost_usd=0.25),
        Attempt(tier="haiku", model="h", outcome="escalated", cost_usd=0.5),
        Attempt(tier="sonnet", model="s", outcome="answered", cost_usd=1.0),
    ]
    item = WorkItem(request=_request(), attempts=attempts, received_at=NOW)
    assert item.total_cost_usd == pytest.approx(1.75)
    assert WorkItem(request=_request(), received_at=NOW).total_cost_usd == 0


def test_models_are_frozen() -> None:
    request = _request(messages=[{"role": "user", "content": "x"}])
    with pytest.raises(ValidationError):
        request.tenant = "other"  # type: ignore[misc]


def test_defaults_are_not_shared() -> None:
    assert _request().messages is not _request().messages
    assert _request().metadata is not _request().metadata


@pytest.mark.parametrize(
    "value",
    [
        NOW,
        NOW.replace(tzinfo=None),  # naive means UTC
        NOW.astimezone(timezone(timedelta(hours=2))),
        int(NOW.timestamp() * 1000),  # epoch millis, never seconds
        float(NOW.timestamp() * 1000),
        "2026-03-01T12:00:00Z",
        "2026-03-01T14:00:00+02:00",
        "2026-03-01T12:00:00",
    ],
)
def test_timestamps_normalise_to_utc(value: object) -> None:
    created_at = _request(created_at=value).created_at
    assert created_at == NOW
    assert created_at is not None and created_at.tzinfo is UTC


def test_timestamps_truncate_to_millis() -> None:
    created_at = _request(created_at=NOW.replace(microsecond=123_999)).created_at
    assert created_at == NOW.replace(microsecond=123_000)


def test_small_epoch_millis_are_not_read_as_seconds() -> None:
    assert _request(created_at=1500).created_at == datetime(1970, 1, 1, 0, 0, 1, 500_000, UTC)


@pytest.mark.parametrize("value", ["yesterday", float("inf"), 10**20, True])
def test_bad_timestamps_are_validation_errors(value: object) -> None:
    with pytest.raises(ValidationError):
        _request(created_at=value)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (LLMRequest, {"request_id": ""}),
        (LLMRequest, {"request_id": "r", "max_tokens": 0}),
        (LLMRequest, {"request_id": "r", "max_tokens": 2**31}),
        (LLMRequest, {"request_id": "r", "messages": [{"role": "system", "content": "x"}]}),
        (Message, {"role": "user"}),
        (Route, {"strategy": "random"}),
        (Attempt, {"tier": "haiku", "model": "m", "outcome": "answered", "input_tokens": -1}),
        (
            DeadLetter,
            {
                "value": b"",
                "topic": "t",
                "partition": 0,
                "offset": 2**63,
                "error_type": "e",
                "error_message": "m",
                "failed_at": NOW,
            },
        ),
        (LLMResult, {"request_id": "r", "tenant": "t", "status": "maybe", "completed_at": NOW}),
    ],
)
def test_contract_violations_are_rejected(model: type, fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(fields)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    assert _request(added_in_v2="x") == _request()


# --- the Messages API's shapes --------------------------------------------------------------

PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _sdk_body(*content: dict[str, Any], **params: Any) -> dict[str, Any]:
    """A body as written for ``client.messages.create(**body)``, plus a request_id."""
    return {
        "request_id": "r-sdk",
        "model": "claude-sonnet-4-6",  # the router picks the model: ignored
        "max_tokens": 512,
        "messages": [{"role": "user", "content": list(content)}],
        **params,
    }


@pytest.mark.parametrize(
    "block",
    [
        {"type": "text", "text": "hi"},
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "Report",
            "context": "Q3",
            "citations": {"enabled": True},
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
    ],
    ids=lambda b: f"{b['type']}-{b.get('source', {}).get('type', '')}",
)
def test_user_content_blocks_parse_and_come_back_as_sent(block: dict[str, Any]) -> None:
    request = LLMRequest.model_validate(_sdk_body({"type": "text", "text": "look"}, block))
    content = request.messages[0].content
    assert isinstance(content, list) and type(content[1]).__name__.endswith("Block")
    assert request.messages[0].to_api() == {
        "role": "user",
        "content": [{"type": "text", "text": "look"}, block],
    }


def test_a_tool_turn_and_its_result_parse() -> None:
    tool_use = {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"city": None}}
    tool_result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": "tu_1",
        "content": [{"type": "text", "text": "sunny"}],
        "is_error": False,
    }
    request = LLMRequest.model_validate(
        {
            "request_id": "r",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [tool_use]},
                {"role": "user", "content": [tool_result, {"type": "text", "text": "and?"}]},
            ],
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        }
    )
    assert [m.to_api()["content"] for m in request.messages[1:]] == [
        [tool_use],
        [tool_result, {"type": "text", "text": "and?"}],
    ]
    assert request.tools[0].input_schema["properties"] == {"city": {"type": "string"}}
    assert request.tool_choice is not None and request.tool_choice.type == "auto"
    assert request.last_user_text == "and?"


def test_system_blocks_keep_their_cache_control() -> None:
    system = [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Today is Monday."},
    ]
    assert _request(system=system).system_blocks == system
    assert _request(system="plain").system_blocks == [{"type": "text", "text": "plain"}]
    assert _request().system_blocks == _request(system="").system_blocks == []


def test_sampling_and_account_parameters_are_passed_as_sent() -> None:
    request = _request(
        temperature=0.0,
        top_p=0.5,
        top_k=0,
        stop_sequences=["\n\nHuman:"],
        service_tier="standard_only",
        thinking={"type": "enabled", "budget_tokens": 1024},
        metadata={"user_id": "u-42", "team": "infra"},
    )
    assert request.api_parameters == {
        "temperature": 0.0,
        "top_p": 0.5,
        "top_k": 0,
        "stop_sequences": ["\n\nHuman:"],
        "service_tier": "standard_only",
        "metadata": {"user_id": "u-42"},  # the API's; the other keys are the service's
    }
    assert request.thinking is not None and request.thinking.budget_tokens == 1024
    assert _request().api_parameters == {}


def test_last_user_text_is_the_text_of_the_last_user_turns_text_blocks() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}
    request = LLMRequest.model_validate(
        _sdk_body({"type": "text", "text": "first"}, image, {"type": "text", "text": "second"})
    )
    assert request.last_user_text == "first\nsecond"


def test_prompt_chars_counts_the_text_of_blocks_not_media() -> None:
    request = LLMRequest.model_validate(
        {
            **_sdk_body(
                {"type": "text", "text": "abcd"},  # 4
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "12345"},
                    "title": "T",
                },  # 5 + 1
                {
                    "type": "tool_result",
                    "tool_use_id": "t",
                    "content": [{"type": "text", "text": "xy"}],
                },  # 2
            ),
            "system": [{"type": "text", "text": "sys"}],  # 3
        }
    )
    assert request.prompt_chars == 15


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "text"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "y": 1}]}]}, "y"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/bmp",
                                    "data": "A",
                                },
                            }
                        ],
                    }
                ]
            },
            "media_type",
        ),
        ({"system": [{"type": "image", "source": {"type": "url", "url": "u"}}]}, "system"),
        ({"temperature": 1.01}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice"),
        ({"tool_choice": {"type": "auto", "name": "x"}}, "tool_choice"),
        ({"thinking": {"type": "enabled"}}, "thinking"),
        ({"thinking": {"type": "enabled", "budget_tokens": 100}}, "budget_tokens"),
        ({"service_tier": "priority"}, "service_tier"),
        ({"tools": [{"name": "bad name", "input_schema": {"type": "object"}}]}, "name"),
        ({"tools": [{"name": "t"}]}, "input_schema"),
    ],
)
def test_what_the_api_rejects_is_a_validation_error_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _request(**fields)
    assert any(field in map(str, error["loc"]) for error in caught.value.errors())


# --- the answering model's content blocks ----------------------------------------------------

# A reply as the SDK returns it: every type of block a result carries, with the fields the
# API adds that a result does not keep (citations, caller).
SDK_CONTENT = [
    sdk.ThinkingBlock(type="thinking", thinking="Weather: call the tool.", signature="sig=="),
    sdk.RedactedThinkingBlock(type="redacted_thinking", data="ZW5j"),
    sdk.TextBlock(
        type="text",
        text="Let me check.",
        citations=[
            sdk.CitationCharLocation(
                type="char_location",
                cited_text="x",
                document_index=0,
                document_title=None,
                start_char_index=0,
                end_char_index=1,
                file_id=None,
            )
        ],
    ),
    sdk.ToolUseBlock(
        type="tool_use",
        id="toolu_01",
        name="get_weather",
        input={"city": "Paris", "days": [1, 2], "units": None},
        caller=sdk.DirectCaller(type="direct"),
    ),
]
EXPECTED_BLOCKS = [
    ResultThinkingBlock(type="thinking", thinking="Weather: call the tool.", signature="sig=="),
    ResultRedactedThinkingBlock(type="redacted_thinking", data="ZW5j"),
    ResultTextBlock(type="text", text="Let me check."),
    ResultToolUseBlock(
        type="tool_use",
        id="toolu_01",
        name="get_weather",
        input={"city": "Paris", "days": [1, 2], "units": None},
    ),
]


def _result(**fields: object) -> LLMResult:
    return LLMResult.model_validate(
        {"request_id": "r", "tenant": "t", "status": "ok", "completed_at": NOW, **fields}
    )


def test_result_defaults_have_no_content_and_no_stop_reason() -> None:
    result = _result()
    assert (result.content, result.stop_reason, result.stop_sequence) == ([], None, None)
    assert result.content is not _result().content


def test_result_blocks_come_from_the_sdks_block_dicts_and_objects() -> None:
    dumped = [block.model_dump() for block in SDK_CONTENT]  # what ModelReply.content holds
    assert "citations" in dumped[2] and "caller" in dumped[3]
    assert result_blocks(dumped) == EXPECTED_BLOCKS
    assert result_blocks(SDK_CONTENT) == EXPECTED_BLOCKS
    assert result_blocks(EXPECTED_BLOCKS) == EXPECTED_BLOCKS
    adapter: TypeAdapter[ResultBlock] = TypeAdapter(ResultBlock)
    assert [adapter.validate_python(d) for d in dumped] == EXPECTED_BLOCKS
    assert _result(content=dumped).content == EXPECTED_BLOCKS


def test_result_blocks_dump_to_the_apis_shape() -> None:
    assert [b.model_dump() for b in EXPECTED_BLOCKS] == [
        {"type": "thinking", "thinking": "Weather: call the tool.", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "ZW5j"},
        {"type": "text", "text": "Let me check."},
        {
            "type": "tool_use",
            "id": "toolu_01",
            "name": "get_weather",
            "input": {"city": "Paris", "days": [1, 2], "units": None},
        },
    ]


def test_a_result_tool_use_is_a_valid_request_block() -> None:
    # The follow-up turn sends the result's tool_use back as the assistant's content.
    tool_use = EXPECTED_BLOCKS[3].model_dump()
    message = Message.model_validate({"role": "assistant", "content": [tool_use]})
    assert message.to_api() == {"role": "assistant", "content": [tool_use]}


def test_a_result_with_blocks_round_trips_through_json_and_avro() -> None:
    result = _result(
        answer="Let me check.",
        content=[b.model_dump() for b in SDK_CONTENT],
        stop_reason="tool_use",
        stop_sequence=None,
    )
    assert result.content == EXPECTED_BLOCKS
    as_json = result.model_dump_json()
    assert LLMResult.model_validate_json(as_json) == result
    assert decode(as_json.encode(), LLMResult) == result
    assert decode(encode(result), LLMResult) == result
    stopped = _result(
        content=[{"type": "text", "text": "a"}], stop_reason="stop_sequence", stop_sequence="END"
    )
    assert decode(encode(stopped), LLMResult) == stopped


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"type": "text"}, "text"),
        ({"type": "tool_use", "id": "t", "name": "f", "input": [1]}, "input"),
        ({"type": "thinking", "thinking": "x"}, "signature"),
        ({"type": "redacted_thinking"}, "data"),
    ],
)
def test_bad_result_blocks_are_validation_errors(block: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _result(content=[block])
    assert any(field in map(str, error["loc"]) for error in caught.value.errors())


def test_a_result_block_of_another_type_is_named_as_such() -> None:
    # Server tools' blocks never come back: a request carries custom tools only.
    server_tool_use = {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}
    with pytest.raises(ValidationError) as caught:
        result_blocks([{"type": "text", "text": "x"}, server_tool_use])
    (error,) = caught.value.errors()
    assert error["loc"] == (1,)
    assert error["type"] == "unknown_result_block"
    assert "the types are text, tool_use, thinking, redacted_thinking" in error["msg"]


def test_feedback_needs_a_label_or_a_score_in_range() -> None:
    at = datetime(2026, 12, 4, tzinfo=UTC)
    with pytest.raises(ValidationError, match="needs a label"):
        Feedback(request_id="r", at=at)
    with pytest.raises(ValidationError):
        Feedback(request_id="r", score=1.5, at=at)
    assert Feedback(request_id="r", score=0.4, at=at).good is False
    assert Feedback(request_id="r", label="good", score=0.1, at=at).good is True  # the label
