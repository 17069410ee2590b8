"""Scenario loading and validation, and rule selection (pure, no I/O but tmp files)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from streamrouter.errors import ConfigError
from streamrouter.sim.scenario import Latency, RuleCounters, Scenario, ToolUse, select_rule

EXAMPLE_YAML = """
latency_ms: {mean: 40, jitter: 10}
rules:
  - match: "(?i)commit message"
    model: "claude-haiku-*"
    answer: "fix: handle empty input"
    confidence: 0.95
  - match: "HARD"
    model: "claude-haiku-*"
    confidence: 0.30
  - match: "BUSY"
    model: "claude-opus-*"
    error: overloaded
    times: 2
    latency_ms: 5
"""


def test_loads_the_design_example_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(EXAMPLE_YAML)
    scenario = Scenario.load(path)
    assert scenario.latency_ms == Latency(mean=40, jitter=10)
    assert [rule.match for rule in scenario.rules] == ["(?i)commit message", "HARD", "BUSY"]
    assert scenario.rules[0].confidence == 0.95
    assert scenario.rules[2].error == "overloaded"
    assert scenario.rules[2].times == 2
    assert scenario.rules[2].retry_after == 1
    assert scenario.rules[2].latency_ms == Latency(mean=5)


def test_loads_json(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"rules": [{"match": "x", "complexity": "hard"}]}))
    assert Scenario.load(path).rules[0].complexity == "hard"


def test_empty_file_is_the_empty_scenario(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert Scenario.load(path) == Scenario()
    assert Scenario().latency_ms == Latency(mean=0, jitter=0)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"rules": [{"match": "(unclosed"}]}, r"rules\[0\]\.match: .*regular expression"),
        ({"rules": [{"match": "x", "colour": "red"}]}, r"rules\[0\]\.colour: unknown key"),
        ({"latency": 5}, r"latency: unknown key"),
        ({"rules": [{"match": "x", "error": "melted"}]}, r"rules\[0\]\.error: "),
        ({"rules": [{"answer": "no match"}]}, r"rules\[0\]\.match: Field required"),
        ({"rules": [{"match": "x", "confidence": 1.5}]}, r"rules\[0\]\.confidence"),
        ({"rules": [{"match": "x", "complexity": "tricky"}]}, r"rules\[0\]\.complexity"),
        ({"rules": [{"match": "x", "times": 2}]}, r"rules\[0\]: .*'times' only applies"),
        ({"rules": [{"match": "x", "error": "timeout", "times": 0}]}, r"rules\[0\]\.times"),
        ({"latency_ms": {"mean": -1}}, r"latency_ms\.mean"),
        ({"rules": [{"match": "x", "tool_use": {"input": {}}}]}, r"rules\[0\]\.tool_use\.name"),
        ({"rules": [{"match": "x", "tool_use": {"name": "a b"}}]}, r"rules\[0\]\.tool_use\.name"),
        ({"rules": [{"match": "x", "tool_use": {"name": "t", "input": 3}}]}, r"tool_use\.input"),
        ({"rules": [{"match": "x", "tool_use": {"name": "t", "args": {}}}]}, r"tool_use\.args"),
        (
            {"rules": [{"match": "x", "error": "overloaded", "tool_use": {"name": "t"}}]},
            r"rules\[0\]: .*cannot also have a 'tool_use'",
        ),
        ({"replay": {"path": "data.csv"}}, r"replay\.models: Field required"),
        ([1, 2], r"expected a mapping"),
    ],
)
def test_bad_scenarios_raise_config_error_naming_the_field(data: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        Scenario.from_data(data)


def test_tool_use_rule_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "tools.yaml"
    path.write_text(
        "rules:\n  - match: weather\n    answer: Looking it up.\n"
        "    tool_use: {name: get_weather, input: {city: Paris, days: 2}}\n"
    )
    rule = Scenario.load(path).rules[0]
    assert rule.tool_use is not None
    assert (rule.tool_use.name, rule.tool_use.input) == (
        "get_weather",
        {"city": "Paris", "days": 2},
    )
    assert Scenario.from_data({"rules": [{"match": "x", "tool_use": {"name": "t"}}]}).rules[
        0
    ].tool_use == ToolUse(name="t", input={})


def test_bad_files_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read scenario file"):
        Scenario.load(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"broken\.json: not valid json"):
        Scenario.load(broken)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("rules:\n  - match: x\n    anwser: typo\n")
    with pytest.raises(ConfigError, match=r"unknown.yaml: rules\[0\]\.anwser: unknown key"):
        Scenario.load(unknown)


def test_scenario_is_immutable() -> None:
    scenario = Scenario.from_data({"rules": [{"match": "x"}]})
    with pytest.raises(ValueError):
        scenario.rules[0].match = "y"  # type: ignore[misc]


def test_latency_sample_stays_within_jitter_and_is_never_negative() -> None:
    rng = random.Random(1)
    draws = [Latency(mean=40, jitter=10).sample_seconds(rng) for _ in range(200)]
    assert all(0.030 <= draw <= 0.050 for draw in draws)
    assert Latency(mean=1, jitter=50).sample_seconds(rng) >= 0
    assert Latency().sample_seconds(rng) == 0


SELECT_RULES = Scenario.from_data(
    {
        "rules": [
            {"match": "(?i)commit message", "model": "claude-haiku-*", "answer": "haiku commit"},
            {"match": "BUSY", "model": "claude-opus-*", "error": "overloaded", "times": 2},
            {"match": "BUSY", "answer": "recovered"},
            {"match": "FLAKY", "error": "server_error"},
            {"match": "commit", "answer": "any model commit"},
        ]
    }
)


@pytest.mark.parametrize(
    ("model", "text", "expected"),
    [
        ("claude-haiku-4-5", "Write a Commit Message please", "haiku commit"),
        ("claude-sonnet-4-6", "write a commit message", "any model commit"),
        ("claude-haiku-4-5", "BUSY day", "recovered"),
        ("claude-haiku-4-5", "nothing to see", None),
        ("claude-haiku-4-5", "", None),
    ],
)
def test_select_rule_first_match_wins_with_model_glob(
    model: str, text: str, expected: str | None
) -> None:
    rule = select_rule(SELECT_RULES, RuleCounters(), model, text)
    assert (rule.answer if rule else None) == expected


def test_select_rule_times_fails_n_calls_then_falls_through() -> None:
    counters = RuleCounters()
    picked = [select_rule(SELECT_RULES, counters, "claude-opus-4-7", "BUSY") for _ in range(4)]
    assert [rule.error or rule.answer for rule in picked if rule] == [
        "overloaded",
        "overloaded",
        "recovered",
        "recovered",
    ]
    counters.reset()
    rule = select_rule(SELECT_RULES, counters, "claude-opus-4-7", "BUSY")
    assert rule is not None and rule.error == "overloaded"


def test_select_rule_error_without_times_always_fails() -> None:
    counters = RuleCounters()
    for _ in range(5):
        rule = select_rule(SELECT_RULES, counters, "claude-haiku-4-5", "FLAKY")
        assert rule is not None and rule.error == "server_error"


def test_select_rule_does_not_count_calls_of_other_models() -> None:
    counters = RuleCounters()
    select_rule(SELECT_RULES, counters, "claude-haiku-4-5", "BUSY")
    rule = select_rule(SELECT_RULES, counters, "claude-opus-4-7", "BUSY")
    assert rule is not None and rule.error == "overloaded"
    assert counters.fired(1) == 1
