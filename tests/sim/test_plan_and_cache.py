from __future__ import annotations

import pytest

from streamrouter.routing.plan import parse_plan, plan_tool
from streamrouter.sim.behaviour import plan_payload
from streamrouter.sim.cache import MIN_CACHEABLE_TOKENS, PromptCache
from streamrouter.sim.reply import build_message, parse_request
from streamrouter.sim.scenario import Scenario

LONG = "Company handbook. " * 400  # well over the cacheable minimum


def plan_body(prompt: str) -> dict[str, object]:
    return {
        "model": "claude-opus-4-7",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": prompt}],
        "tools": [plan_tool()],
        "tool_choice": {"type": "tool", "name": "plan_subtasks"},
    }


def test_planner_calls_get_the_rule_number_of_subtasks() -> None:
    scenario = Scenario.from_data({"rules": [{"match": "ORCH", "subtasks": 4}]})
    request = parse_request(plan_body("ORCH: research three vendors"))
    message = build_message(request, scenario.rules[0], message_id="m", tool_use_id="t")

    assert request.kind == "plan"
    planned = parse_plan(message["content"][0]["input"])
    assert len(planned) == 4
    assert all("ORCH" in p.prompt and p.tier == "haiku" for p in planned)


@pytest.mark.parametrize("prompt", ["a", "plan a trip to Lisbon", "x " * 200])
def test_default_plans_are_deterministic_and_small(prompt: str) -> None:
    first, again = plan_payload(prompt, None), plan_payload(prompt, None)
    assert first == again and 2 <= len(first["subtasks"]) <= 4


def cached_body(system: str) -> dict[str, object]:
    return {
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }


def usage(total: int) -> dict[str, int]:
    return {
        "input_tokens": total,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_a_repeated_long_prefix_is_written_then_read() -> None:
    now = [0.0]
    cache = PromptCache(ttl_s=300, clock=lambda: now[0])
    first = cache.account("m", cached_body(LONG), usage(2000))
    second = cache.account("m", cached_body(LONG), usage(2000))
    other_model = cache.account("n", cached_body(LONG), usage(2000))
    now[0] = 1000.0
    expired = cache.account("m", cached_body(LONG), usage(2000))

    prefix = first["cache_creation_input_tokens"]
    assert prefix >= MIN_CACHEABLE_TOKENS and first["input_tokens"] == 2000 - prefix
    assert (
        second["cache_read_input_tokens"] == prefix and second["cache_creation_input_tokens"] == 0
    )
    assert other_model["cache_creation_input_tokens"] == prefix
    assert expired["cache_creation_input_tokens"] == prefix


@pytest.mark.parametrize(
    "body",
    [
        cached_body("short system prompt"),
        {"system": LONG, "messages": []},  # a plain string: no breakpoint
        {"system": [{"type": "text", "text": LONG}], "messages": []},
    ],
)
def test_no_breakpoint_or_a_short_prefix_is_not_cached(body: dict[str, object]) -> None:
    cache = PromptCache()
    for _ in range(2):
        assert cache.account("m", body, usage(3000)) == usage(3000)
