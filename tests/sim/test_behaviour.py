"""The deterministic default simulation and the pure reply builder."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamrouter.sim.behaviour import (
    capability,
    classify,
    count_input_tokens,
    difficulty,
    estimate_tokens,
    simulate_answer,
)
from streamrouter.sim.reply import build_message, parse_request
from streamrouter.sim.scenario import Rule

from .conftest import answer_args, classify_args, user

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"
PROMPTS = [
    "Write a commit message for: fix typo in README",
    "Summarize this paragraph in one line.",
    "Debug this flaky test and optimize the loop.",
    "Design the architecture of a distributed, concurrency-safe cache and prove it is correct.",
    "HARD: what is 2 + 2?",
    "x" * 5000,
    "",
]


def test_capability_orders_the_tiers() -> None:
    assert capability(HAIKU) < capability(SONNET) < capability(OPUS)
    assert capability("claude-3-opus-20240229") == capability(OPUS)


@pytest.mark.parametrize(
    ("prompt", "complexity"),
    [
        ("Write a commit message for: fix typo in README", "simple"),
        ("Debug this flaky test and optimize the loop.", "medium"),
        ("Design the architecture of a distributed cache and prove it correct.", "hard"),
        ("HARD: what is 2 + 2?", "hard"),
    ],
)
def test_classification_follows_prompt_difficulty(prompt: str, complexity: str) -> None:
    assert classify(HAIKU, prompt).complexity == complexity


@pytest.mark.parametrize("prompt", PROMPTS)
def test_simulation_is_deterministic_and_bounded(prompt: str) -> None:
    for model in (HAIKU, SONNET, OPUS):
        assert simulate_answer(model, prompt) == simulate_answer(model, prompt)
        assert classify(model, prompt) == classify(model, prompt)
        assert 0 <= simulate_answer(model, prompt).confidence <= 1
        assert 0 <= classify(model, prompt).confidence <= 1
    assert 0 <= difficulty(prompt) <= 1


@pytest.mark.parametrize("prompt", PROMPTS)
def test_bigger_models_are_never_less_confident(prompt: str) -> None:
    haiku, sonnet, opus = (simulate_answer(m, prompt).confidence for m in (HAIKU, SONNET, OPUS))
    assert haiku <= sonnet <= opus


def test_harder_prompts_get_lower_confidence() -> None:
    easy = simulate_answer(HAIKU, "Write a commit message for: fix typo in README")
    hard = simulate_answer(HAIKU, "HARD: design a distributed consensus protocol")
    assert hard.confidence < easy.confidence
    assert easy.confidence >= 0.85  # an easy prompt passes haiku's default threshold
    assert hard.confidence < 0.85


def test_answer_text_names_the_model_and_the_prompt() -> None:
    answer = simulate_answer(SONNET, "Summarize this paragraph").answer
    assert answer.startswith(f"[{SONNET}] ")
    assert "Summarize this paragraph" in answer


def test_token_estimates_cover_system_messages_and_tools() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcdefgh") == 2
    bare = {"messages": user("hello " * 40)}
    assert count_input_tokens(bare) == pytest.approx(len("hello " * 40) / 4, abs=1)
    fuller = {**classify_args("hello " * 40), "system": "You are a router. " * 10}
    assert count_input_tokens(fuller) > count_input_tokens(bare) + 40
    blocks = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi " * 40}]}]}
    assert count_input_tokens(blocks) >= 30


@pytest.mark.parametrize(
    ("body", "kind", "mode"),
    [
        (classify_args("x"), "classify", "tool"),
        (answer_args("x"), "answer", "tool"),
        ({**answer_args("x"), "tool_choice": {"type": "any"}}, "answer", "tool"),
        ({**answer_args("x"), "tool_choice": {"type": "auto"}}, "text", "text"),
        ({"model": HAIKU, "max_tokens": 9, "messages": user("x")}, "text", "text"),
        (
            {
                "model": HAIKU,
                "max_tokens": 9,
                "messages": user("x"),
                "output_config": {
                    "format": {
                        "type": "json_schema",
                        "schema": {"type": "object", "properties": {"complexity": {}}},
                    }
                },
            },
            "classify",
            "json",
        ),
    ],
)
def test_parse_request_recognises_what_is_asked(body: dict[str, Any], kind: str, mode: str) -> None:
    request = parse_request(body)
    assert (request.kind, request.mode) == (kind, mode)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "JSON object"),
        ({"max_tokens": 5, "messages": user("x")}, "model"),
        ({"model": HAIKU, "messages": user("x")}, "max_tokens"),
        ({"model": HAIKU, "max_tokens": 5, "messages": []}, "messages"),
        ({"model": HAIKU, "max_tokens": 5, "messages": [{"role": "robot"}]}, "messages.0"),
        ({**classify_args("x"), "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice"),
    ],
)
def test_parse_request_rejects_bad_bodies(body: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_request(body)


def test_last_user_text_takes_text_blocks_of_the_last_user_message() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "second"},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                {"type": "text", "text": "part"},
            ],
        },
    ]
    body = {"model": HAIKU, "max_tokens": 5, "messages": messages}
    assert parse_request(body).last_user == "second\npart"


def _message(body: dict[str, Any], rule: Rule | None = None) -> dict[str, Any]:
    return build_message(parse_request(body), rule, message_id="msg_1", tool_use_id="toolu_1")


def test_answer_longer_than_max_tokens_stops_at_max_tokens() -> None:
    rule = Rule(match="x", answer="word " * 100)
    message = _message(answer_args("x", max_tokens=10), rule)
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 10
    assert len(message["content"][0]["input"]["answer"]) <= 40


def test_structured_output_of_an_unknown_shape_is_filled_from_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"type": "string"}},
            "count": {"type": "integer"},
            "mode": {"type": "string", "enum": ["parallel", "serial"]},
        },
    }
    body = {
        "model": OPUS,
        "max_tokens": 500,
        "messages": user("plan this"),
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    message = _message(body)
    assert parse_request(body).kind == "structured"
    data = json.loads(message["content"][0]["text"])
    assert data["count"] == 1
    assert data["mode"] == "parallel"
    assert len(data["steps"]) == 1 and isinstance(data["steps"][0], str)
