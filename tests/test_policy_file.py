"""What a running worker takes up from its policy file, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamrouter.config import CachePolicy, Policy, TierPolicy, policy_version
from streamrouter.errors import ConfigError
from streamrouter.llm.pricing import PriceTable
from streamrouter.policy_file import PolicyFile, reload_refusal

PRICES = PriceTable.default()
RUNNING = Policy()


def with_tiers(*tiers: TierPolicy) -> Policy:
    return RUNNING.model_copy(update={"tiers": tiers})


def test_thresholds_task_types_and_models_may_change() -> None:
    haiku, sonnet, opus = RUNNING.tiers
    new = with_tiers(haiku.model_copy(update={"threshold": 0.5}), sonnet, opus).model_copy(
        update={"task_map": {"commit_message": "opus"}}
    )
    assert reload_refusal(RUNNING, new, PRICES) is None


def test_other_tiers_are_refused_their_topics_are_declared_at_start() -> None:
    new = with_tiers(*RUNNING.tiers[:2])
    assert "its tiers (haiku, sonnet) are not the running ones" in str(
        reload_refusal(RUNNING, new, PRICES)
    )


def test_other_cache_settings_are_refused() -> None:
    new = RUNNING.model_copy(update={"cache": CachePolicy(enabled=not RUNNING.cache.enabled)})
    assert "cache settings" in str(reload_refusal(RUNNING, new, PRICES))


def test_a_model_without_a_price_is_refused() -> None:
    haiku, sonnet, opus = RUNNING.tiers
    new = with_tiers(haiku.model_copy(update={"model": "claude-unknown-9"}), sonnet, opus)
    assert "claude-unknown-9" in str(reload_refusal(RUNNING, new, PRICES))


def test_a_new_version_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("task_map: {commit_message: haiku}\n")
    followed = PolicyFile(path, policy_version(path.read_bytes()))
    assert followed.new_version() is None  # the version the worker started with
    path.write_text("task_map: {commit_message: sonnet}\n")
    found = followed.new_version()
    assert found is not None
    assert found.policy.task_map == {"commit_message": "sonnet"}
    assert found.version == policy_version(path.read_bytes())
    assert followed.new_version() is None


def test_an_invalid_or_unreadable_file_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("task_map: {commit_message: haiku}\n")
    followed = PolicyFile(path, policy_version(path.read_bytes()))
    path.write_text("tiers: 3\n")
    with pytest.raises(ConfigError, match="invalid policy file"):
        followed.new_version()
    assert followed.new_version() is None
    path.unlink()  # an editor replacing the file, say
    with pytest.raises(ConfigError, match="cannot read policy file"):
        followed.new_version()
    assert followed.new_version() is None
    path.write_text("task_map: {commit_message: opus}\n")
    found = followed.new_version()
    assert found is not None and found.policy.task_map == {"commit_message": "opus"}
