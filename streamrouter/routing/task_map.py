"""Task-type map: a request that names its ``task_type`` gets a tier without a classifier call.

Task types are snake_case identifiers. Lookup normalises case, surrounding whitespace, inner
whitespace and hyphens, so ``"Commit-Message"`` and ``" commit message "`` both find
``commit_message``. An unknown task type maps to ``None``: the caller routes it with the
classifier and names the unknown type in the route's reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["DEFAULT_TASK_MAP", "normalize_task_type", "tier_for_task"]

DEFAULT_TASK_MAP: Mapping[str, str] = MappingProxyType(
    {
        "commit_message": "haiku",
        "summarize": "haiku",
        "classify_intent": "haiku",
        "extract": "haiku",
        "fix_failing_test": "sonnet",
        "write_feature": "sonnet",
        "code_review": "opus",
        "architecture": "opus",
        "orchestration": "opus",
        "debugging": "opus",
    }
)

_SEPARATORS = re.compile(r"[\s\-]+")


def normalize_task_type(task_type: str) -> str:
    """Return ``task_type`` as a snake_case key: lower case, runs of spaces/hyphens -> ``_``."""
    return _SEPARATORS.sub("_", task_type.strip().lower()).strip("_")


def tier_for_task(
    task_type: str | None, task_map: Mapping[str, str] = DEFAULT_TASK_MAP
) -> str | None:
    """Return the tier ``task_map`` assigns to ``task_type``, or ``None``.

    ``None`` means "not decided here": no task type, a blank one, or one the map does not
    know. The map's own keys are normalised the same way, so a config file may spell them
    ``Code-Review`` too.
    """
    if task_type is None:
        return None
    key = normalize_task_type(task_type)
    if not key:
        return None
    if key in task_map:
        return task_map[key]
    for name, tier in task_map.items():
        if normalize_task_type(name) == key:
            return tier
    return None
