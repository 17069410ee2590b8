from __future__ import annotations

import pytest

from streamrouter.routing.task_map import DEFAULT_TASK_MAP, normalize_task_type, tier_for_task


@pytest.mark.parametrize(
    ("task_type", "tier"),
    [
        ("commit_message", "haiku"),
        ("summarize", "haiku"),
        ("classify_intent", "haiku"),
        ("extract", "haiku"),
        ("fix_failing_test", "sonnet"),
        ("write_feature", "sonnet"),
        ("code_review", "opus"),
        ("architecture", "opus"),
        ("orchestration", "opus"),
        ("debugging", "opus"),
        ("Commit-Message", "haiku"),
        ("  code review  ", "opus"),
        ("FIX-failing  test", "sonnet"),
        ("code--review", "opus"),
        ("-summarize-", "haiku"),
        (None, None),
        ("", None),
        ("   ", None),
        ("-", None),
        ("commit_mesage", None),
        ("poetry", None),
    ],
)
def test_tier_for_task_default_map(task_type: str | None, tier: str | None) -> None:
    assert tier_for_task(task_type) == tier
    assert tier_for_task(task_type, DEFAULT_TASK_MAP) == tier


@pytest.mark.parametrize(
    ("task_map", "task_type", "tier"),
    [
        ({"translate": "haiku"}, "Translate", "haiku"),
        ({"Code-Review": "sonnet"}, "code_review", "sonnet"),
        ({"translate": "haiku"}, "commit_message", None),
        ({}, "commit_message", None),
    ],
)
def test_tier_for_task_custom_map(task_map: dict[str, str], task_type: str, tier: str) -> None:
    assert tier_for_task(task_type, task_map) == tier


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("Commit Message", "commit_message"), ("a-b_c", "a_b_c"), ("\tX\n", "x"), ("", "")],
)
def test_normalize_task_type(raw: str, normalized: str) -> None:
    assert normalize_task_type(raw) == normalized


def test_default_task_map_is_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_TASK_MAP["commit_message"] = "opus"  # type: ignore[index]
