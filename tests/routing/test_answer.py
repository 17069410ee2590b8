from __future__ import annotations

import json
from typing import Any

import pytest

from streamrouter.routing.answer import (
    ANSWER_SCHEMA,
    ANSWER_TOOL_NAME,
    ParsedAnswer,
    answer_tool,
    parse_answer,
)


def tool_use(payload: Any, name: str = ANSWER_TOOL_NAME) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_1", "name": name, "input": payload}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def test_answer_tool_shape() -> None:
    tool = answer_tool()
    assert tool["name"] == ANSWER_TOOL_NAME == "submit_answer"
    assert tool["description"]
    schema = tool["input_schema"]
    assert set(schema["properties"]) == {"answer", "confidence", "reasoning"}
    assert schema["required"] == ["answer", "confidence"]
    assert schema["additionalProperties"] is False
    assert "maximum" not in json.dumps(schema)
    tool["input_schema"]["required"].append("junk")
    assert ANSWER_SCHEMA["required"] == ["answer", "confidence"]


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        pytest.param(
            [tool_use({"answer": "42", "confidence": 0.9, "reasoning": "math"})],
            ParsedAnswer("42", 0.9, "math", 1),
            id="tool",
        ),
        pytest.param(
            [text("Let me answer."), tool_use({"answer": " 42 ", "confidence": "0.8"})],
            ParsedAnswer("42", 0.8, "", 1),
            id="tool-preferred-over-text",
        ),
        pytest.param(
            [tool_use({"answer": "a", "confidence": 1.5}), tool_use({"x": 1}, name="search")],
            ParsedAnswer("a", 1.0, "", 2),
            id="clamped-and-other-tools-counted",
        ),
        pytest.param(
            [tool_use({"answer": "first", "confidence": 0.1}), tool_use({"answer": "last"})],
            ParsedAnswer("last", None, "", 2),
            id="last-submit-wins-missing-confidence",
        ),
        pytest.param(
            [tool_use({"answer": "x", "confidence": "high", "reasoning": 3})],
            ParsedAnswer("x", None, "", 1),
            id="bad-confidence-and-reasoning",
        ),
        pytest.param(
            [tool_use({"confidence": 0.9}), text("plain fallback")],
            ParsedAnswer("plain fallback", None, "", 1),
            id="tool-without-answer-falls-back-to-text",
        ),
        pytest.param(
            [tool_use("not a dict")],
            ParsedAnswer("", None, "", 1),
            id="tool-input-not-a-mapping",
        ),
        pytest.param(
            [text('{"answer": "json mode", "confidence": 0.7, "reasoning": "r"}')],
            ParsedAnswer("json mode", 0.7, "r", 0),
            id="json-schema-output",
        ),
        pytest.param(
            [text('  {"answer": "x", "confidence": -1}\n')],
            ParsedAnswer("x", 0.0, "", 0),
            id="json-with-whitespace-clamped",
        ),
        pytest.param(
            [text('{"result": "no answer key"}')],
            ParsedAnswer('{"result": "no answer key"}', None, "", 0),
            id="json-without-answer-is-text",
        ),
        pytest.param(
            [text("{not json")],
            ParsedAnswer("{not json", None, "", 0),
            id="broken-json-is-text",
        ),
        pytest.param(
            [text("Part one."), text("Part two.")],
            ParsedAnswer("Part one.\nPart two.", None, "", 0),
            id="plain-text-joined",
        ),
        pytest.param([], ParsedAnswer("", None, "", 0), id="empty"),
        pytest.param(
            [{"type": "thinking", "thinking": "hmm"}, text("ok")],
            ParsedAnswer("ok", None, "", 0),
            id="other-blocks-ignored",
        ),
        pytest.param(
            [tool_use({"answer": "x", "confidence": True})],
            ParsedAnswer("x", None, "", 1),
            id="bool-confidence-ignored",
        ),
    ],
)
def test_parse_answer(blocks: list[dict[str, Any]], expected: ParsedAnswer) -> None:
    assert parse_answer(blocks) == expected
