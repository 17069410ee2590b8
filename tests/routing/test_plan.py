from __future__ import annotations

import json

import pytest

from streamrouter.routing.plan import (
    PLAN_TOOL_NAME,
    PlannedSubtask,
    PlanOutputError,
    bound_plan,
    parse_plan,
    plan_tool,
)

TIERS = ("haiku", "sonnet", "opus")


def test_tool_definition() -> None:
    tool = plan_tool()
    assert tool["name"] == PLAN_TOOL_NAME
    assert tool["input_schema"]["required"] == ["subtasks"]


@pytest.mark.parametrize(
    "payload",
    [
        {"subtasks": [{"prompt": " a ", "tier": "haiku"}, {"prompt": "b"}]},
        json.dumps({"subtasks": [{"prompt": "a", "tier": "haiku"}, {"prompt": "b"}]}),
    ],
)
def test_parse_tool_input_or_json_text(payload: object) -> None:
    assert parse_plan(payload) == [PlannedSubtask("a", "haiku"), PlannedSubtask("b", None)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[1]",
        {"subtasks": "x"},
        {"subtasks": [{"tier": "haiku"}]},
        {"subtasks": [{"prompt": " "}]},
    ],
)
def test_junk_is_an_error(payload: object) -> None:
    with pytest.raises(PlanOutputError):
        parse_plan(payload)  # type: ignore[arg-type]


def test_bound_plan_ids_tiers_cap_and_cut() -> None:
    planned = [
        PlannedSubtask("a", "opus"),
        PlannedSubtask("b", "Sonnet"),
        PlannedSubtask("c", "gpt-9"),
        PlannedSubtask("d", None),
    ]
    subtasks, note = bound_plan(planned, TIERS, max_subtasks=3, max_tier="sonnet")
    assert [(s.subtask_id, s.prompt, s.tier) for s in subtasks] == [
        ("s1", "a", "sonnet"),
        ("s2", "b", "sonnet"),
        ("s3", "c", "haiku"),
    ]
    assert note == "plan cut from 4 to 3 subtasks"
    assert bound_plan(planned[:1], TIERS, 3)[1] == ""
