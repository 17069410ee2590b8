"""The simulator's replay mode, through the real SDK over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from streamrouter.errors import ConfigError
from streamrouter.events import Escalation, LLMRequest, Message
from streamrouter.prompts import answer_call
from streamrouter.routing.answer import parse_answer
from streamrouter.routing.classifier import classify_tool
from streamrouter.sim import Scenario, serve

from .conftest import STRONG, STRONG_ANSWER, WEAK, WRONG_SUM


def scenario_file(tmp_path: Path, dataset: Path, **extra: Any) -> Path:
    path = tmp_path / "scenario.yaml"
    data = {
        "replay": {
            "path": dataset.name,  # relative to the scenario file
            "models": {"claude-haiku-*": WEAK, "claude-opus-*": STRONG},
        },
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


async def ask(url: str, model: str, request: LLMRequest, escalation: Escalation | None = None):
    call = answer_call(request, escalation)
    client = anthropic.AsyncAnthropic(base_url=url, api_key="sk-test", max_retries=0)
    async with client:
        return await client.messages.create(
            model=model,
            max_tokens=call.max_tokens,
            system=call.system,
            messages=call.messages,
            tools=[call.tool],
            tool_choice={"type": "tool", "name": call.tool["name"]},
        )


def request(prompt: str) -> LLMRequest:
    return LLMRequest(request_id="r", messages=[Message(role="user", content=prompt)])


async def test_answers_with_the_recorded_text_and_no_confidence(
    tmp_path: Path, labeled_csv: Path
) -> None:
    scenario = Scenario.load(scenario_file(tmp_path, labeled_csv))
    prompt = "Question 0: how many apples are in box 0?"
    async with serve(scenario) as sim:
        weak = await ask(sim.url, "claude-haiku-4-5", request(prompt))
        escalation = Escalation(from_tier="haiku", answer="x\n\n---\ny", confidence=0.1)
        strong = await ask(sim.url, "claude-opus-4-7", request(prompt), escalation)
        other = await ask(sim.url, "claude-haiku-4-5", request("not in the data"))
    parsed = parse_answer([b.model_dump() for b in weak.content])
    assert (parsed.answer, parsed.self_confidence) == (WRONG_SUM, None)
    assert weak.stop_reason == "tool_use" and weak.usage.output_tokens > 10
    strong_answer = parse_answer([b.model_dump() for b in strong.content]).answer
    assert strong_answer == f"{STRONG_ANSWER} (#0)"
    # Not recorded: simulated as usual (with a self-reported confidence).
    assert parse_answer([b.model_dump() for b in other.content]).self_confidence is not None


async def test_rules_come_first_and_classification_is_simulated(
    tmp_path: Path, labeled_csv: Path
) -> None:
    rules = [{"match": "box 1\\?", "model": "claude-haiku-*", "answer": "from a rule"}]
    scenario = Scenario.load(scenario_file(tmp_path, labeled_csv, rules=rules))
    async with serve(scenario) as sim:
        ruled = await ask(
            sim.url, "claude-haiku-4-5", request("Question 1: how many apples are in box 1?")
        )
        client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-test", max_retries=0)
        async with client:
            classified = await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=256,
                messages=[{"role": "user", "content": "Question 2: how many apples are in box 2?"}],
                tools=[classify_tool()],
                tool_choice={"type": "tool", "name": "classify_request"},
            )
    assert parse_answer([b.model_dump() for b in ruled.content]).answer == "from a rule"
    assert classified.content[0].input["complexity"] in ("simple", "medium", "hard")


async def test_a_long_recording_is_cut_at_max_tokens(tmp_path: Path) -> None:
    data = tmp_path / "long.jsonl"
    data.write_text(
        f'{{"prompt": "long one", "{WEAK}": true, "{STRONG}": true, '
        f'"{WEAK}_response": "{"word " * 500}", "{STRONG}_response": "ok"}}\n'
    )
    scenario = Scenario.load(scenario_file(tmp_path, data))
    async with serve(scenario) as sim:
        long_request = LLMRequest(
            request_id="r", messages=[Message(role="user", content="long one")], max_tokens=50
        )
        reply = await ask(sim.url, "claude-haiku-4-5", long_request)
    assert reply.stop_reason == "max_tokens" and reply.usage.output_tokens == 50


def test_a_missing_dataset_or_column_is_a_config_error(tmp_path: Path, labeled_csv: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read dataset"):
        serve_app(Scenario.load(scenario_file(tmp_path, tmp_path / "nope.csv")))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"replay": {"path": str(labeled_csv), "models": {"*": "x"}}}))
    with pytest.raises(ConfigError, match="no label column"):
        serve_app(Scenario.load(bad))


def serve_app(scenario: Scenario) -> None:
    from streamrouter.sim.server import create_app

    create_app(scenario)
