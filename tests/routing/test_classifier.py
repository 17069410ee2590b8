from __future__ import annotations

import json
from typing import Any

import pytest

from streamrouter.routing.classifier import (
    CLASSIFIER_SYSTEM,
    CLASSIFY_SCHEMA,
    CLASSIFY_TOOL_NAME,
    Classification,
    ClassifierOutputError,
    classify_tool,
    parse_classification,
    tier_for_complexity,
)

TIERS = ("haiku", "sonnet", "opus")


def test_classify_tool_shape() -> None:
    tool = classify_tool()
    assert tool["name"] == CLASSIFY_TOOL_NAME == "classify_request"
    assert tool["description"]
    schema = tool["input_schema"]
    assert schema["properties"]["complexity"]["enum"] == ["simple", "medium", "hard"]
    assert schema["properties"]["confidence"]["type"] == "number"
    assert set(schema["required"]) == {"complexity", "confidence", "reason"}
    assert schema["additionalProperties"] is False
    # Anthropic's structured-output mode rejects numeric bounds.
    assert "minimum" not in json.dumps(schema)


def test_classify_tool_returns_a_copy() -> None:
    classify_tool()["input_schema"]["required"].append("junk")
    assert CLASSIFY_SCHEMA["required"] == ["complexity", "confidence", "reason"]


def test_classifier_system_prompt() -> None:
    assert CLASSIFY_TOOL_NAME in CLASSIFIER_SYSTEM
    assert len(CLASSIFIER_SYSTEM) < 1000


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"complexity": "simple", "confidence": 0.9, "reason": "short"},
            Classification("simple", 0.9, "short"),
        ),
        (
            {"complexity": " HARD\n", "confidence": 1, "reason": " deep "},
            Classification("hard", 1.0, "deep"),
        ),
        (
            {"complexity": "Medium", "confidence": "0.7", "reason": "x"},
            Classification("medium", 0.7, "x"),
        ),
        ({"complexity": "hard", "confidence": 1.7, "reason": ""}, Classification("hard", 1.0, "")),
        ({"complexity": "hard", "confidence": -3, "reason": ""}, Classification("hard", 0.0, "")),
        ({"complexity": "simple", "confidence": 0.5}, Classification("simple", 0.5, "")),
        (
            {"complexity": "simple", "confidence": 0.5, "reason": None},
            Classification("simple", 0.5, ""),
        ),
        (
            '{"complexity": "medium", "confidence": 0.4, "reason": "json mode"}',
            Classification("medium", 0.4, "json mode"),
        ),
        (
            '  {"complexity": "simple", "confidence": "1e-1", "reason": "r"}\n',
            Classification("simple", 0.1, "r"),
        ),
    ],
)
def test_parse_classification(payload: Any, expected: Classification) -> None:
    assert parse_classification(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not json",
        "[1, 2]",
        '"simple"',
        {},
        {"complexity": "trivial", "confidence": 0.5, "reason": ""},
        {"complexity": None, "confidence": 0.5, "reason": ""},
        {"complexity": 3, "confidence": 0.5, "reason": ""},
        {"complexity": "simple", "reason": ""},
        {"complexity": "simple", "confidence": None, "reason": ""},
        {"complexity": "simple", "confidence": "high", "reason": ""},
        {"complexity": "simple", "confidence": True, "reason": ""},
        {"complexity": "simple", "confidence": "nan", "reason": ""},
        {"complexity": "simple", "confidence": [0.5], "reason": ""},
        {"complexity": "simple", "confidence": 0.5, "reason": 42},
    ],
)
def test_parse_classification_rejects_junk(payload: Any) -> None:
    with pytest.raises(ClassifierOutputError):
        parse_classification(payload)


def test_classifier_output_error_is_a_value_error() -> None:
    assert issubclass(ClassifierOutputError, ValueError)


@pytest.mark.parametrize(
    ("complexity", "tiers", "tier"),
    [
        ("simple", TIERS, "haiku"),
        ("medium", TIERS, "sonnet"),
        ("hard", TIERS, "opus"),
        (" Hard ", TIERS, "opus"),
        ("simple", ("small", "big"), "small"),
        ("medium", ("small", "big"), "big"),
        ("hard", ("small", "big"), "big"),
        ("simple", ("only",), "only"),
        ("medium", ("only",), "only"),
        ("hard", ("only",), "only"),
        ("medium", ("a", "b", "c", "d"), "c"),
        ("medium", ("a", "b", "c", "d", "e"), "c"),
        ("hard", ("a", "b", "c", "d", "e"), "e"),
    ],
)
def test_tier_for_complexity(complexity: str, tiers: tuple[str, ...], tier: str) -> None:
    assert tier_for_complexity(complexity, tiers) == tier


@pytest.mark.parametrize(("complexity", "tiers"), [("simple", ()), ("extreme", TIERS), ("", TIERS)])
def test_tier_for_complexity_rejects(complexity: str, tiers: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        tier_for_complexity(complexity, tiers)
