"""The planning contract: how the planner returns subtasks, and how a plan is checked.

The planner (the top tier) is asked to call ``plan_subtasks`` (forced tool use) or to
emit JSON matching ``PLAN_SCHEMA``. ``parse_plan`` reads either; ``bound_plan`` gives
each subtask an id and a known tier (capped by the budget), and cuts the plan to the
configured maximum, saying so.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streamrouter.events import Subtask
from streamrouter.routing.budget import cap_tier

__all__ = [
    "PLAN_SCHEMA",
    "PLAN_TOOL_NAME",
    "PlanOutputError",
    "PlannedSubtask",
    "bound_plan",
    "parse_plan",
    "plan_tool",
]

PLAN_TOOL_NAME: Final = "plan_subtasks"

PLAN_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "subtasks": {
            "type": "array",
            "description": "Independent subtasks whose answers together answer the request.",
            "items": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "The subtask, self-contained."},
                    "tier": {
                        "type": "string",
                        "description": "The cheapest tier that can do it: haiku, sonnet or opus.",
                    },
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
        },
        "reasoning": {"type": "string", "description": "Why this split."},
    },
    "required": ["subtasks"],
    "additionalProperties": False,
}


class PlanOutputError(ValueError):
    """The planner's output is not a usable plan."""


@dataclass(frozen=True)
class PlannedSubtask:
    prompt: str
    tier: str | None


def plan_tool() -> dict[str, Any]:
    return {
        "name": PLAN_TOOL_NAME,
        "description": "Split the request into independent subtasks for cheaper models.",
        "input_schema": copy.deepcopy(dict(PLAN_SCHEMA)),
    }


def parse_plan(payload: Mapping[str, Any] | str) -> list[PlannedSubtask]:
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise PlanOutputError(f"plan is not JSON: {exc}") from exc
    if not isinstance(payload, Mapping) or not isinstance(payload.get("subtasks"), list):
        raise PlanOutputError("plan must be an object with a subtasks list")
    planned = []
    for item in payload["subtasks"]:
        prompt = item.get("prompt") if isinstance(item, Mapping) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise PlanOutputError(f"subtask without a prompt: {item!r}")
        tier = item.get("tier")
        planned.append(PlannedSubtask(prompt.strip(), tier if isinstance(tier, str) else None))
    return planned


def bound_plan(
    planned: Sequence[PlannedSubtask],
    tiers: Sequence[str],
    max_subtasks: int,
    max_tier: str | None = None,
) -> tuple[list[Subtask], str]:
    """Subtasks with ids and known tiers, at most ``max_subtasks``; and a note of changes.

    An unknown or missing tier becomes the cheapest; a tier above the budget cap is capped.
    """
    notes = []
    if len(planned) > max_subtasks:
        notes.append(f"plan cut from {len(planned)} to {max_subtasks} subtasks")
        planned = planned[:max_subtasks]
    subtasks = []
    for index, item in enumerate(planned, start=1):
        tier = item.tier.strip().lower() if item.tier else ""
        if tier not in tiers:
            tier = tiers[0]
        subtasks.append(
            Subtask(
                subtask_id=f"s{index}", prompt=item.prompt, tier=cap_tier(tier, max_tier, tiers)
            )
        )
    return subtasks, "; ".join(notes)
