from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from streamrouter.config import (
    Policy,
    Settings,
    TierPolicy,
    Topics,
    load_policy,
    load_service_config,
)
from streamrouter.config import load_settings as load_settings_from_env
from streamrouter.errors import ConfigError
from streamrouter.routing.confidence import ConfidenceWeights
from streamrouter.routing.task_map import DEFAULT_TASK_MAP


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(dedent(text))
    return path


# Policy defaults


def test_default_policy_tiers() -> None:
    policy = Policy()
    assert policy.tier_names == ("haiku", "sonnet", "opus")
    assert [t.model for t in policy.tiers] == [
        "claude-haiku-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-7",
    ]
    assert policy.thresholds == {"haiku": 0.85, "sonnet": 0.80}
    assert policy.tier("opus").threshold is None  # the top tier always answers
    assert policy.task_map == dict(DEFAULT_TASK_MAP)
    assert policy.classifier.name == "haiku"
    assert policy.weights == ConfidenceWeights()
    assert all(t.structured_output == "tool" for t in policy.tiers)


@pytest.mark.parametrize(
    ("tier", "chain"),
    [
        ("haiku", ("claude-haiku-4-5",)),
        ("sonnet", ("claude-sonnet-4-6", "claude-haiku-4-5")),
        ("opus", ("claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5")),
    ],
)
def test_default_chains(tier: str, chain: tuple[str, ...]) -> None:
    assert Policy().tier(tier).chain == chain


def test_unknown_tier_lookup_raises_key_error() -> None:
    with pytest.raises(KeyError):
        Policy().tier("gpt")


def test_policy_defaults_are_not_shared() -> None:
    a, b = Policy(), Policy()
    assert a.task_map is not b.task_map
    assert a.task_map is not DEFAULT_TASK_MAP


# load_policy


def test_no_file_is_the_default_policy() -> None:
    assert load_policy(None) == Policy()


@pytest.mark.parametrize("text", ["", "# only a comment\n", "~\n", "{}\n"])
def test_empty_file_is_the_default_policy(tmp_path: Path, text: str) -> None:
    assert load_policy(write(tmp_path, text)) == Policy()


def test_file_overrides_tiers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tiers:
          - {name: haiku, model: claude-haiku-4-5-20251001, threshold: 0.9}
          - name: sonnet
            model: claude-sonnet-4-6
            fallbacks: [claude-haiku-4-5-20251001]
            threshold: 0.7
            structured_output: json_schema
          - {name: opus, model: claude-opus-4-7}
        """,
    )
    policy = load_policy(path)
    assert policy.thresholds == {"haiku": 0.9, "sonnet": 0.7}
    assert policy.tier("haiku").chain == ("claude-haiku-4-5-20251001",)
    assert policy.tier("sonnet").chain == ("claude-sonnet-4-6", "claude-haiku-4-5-20251001")
    assert policy.tier("sonnet").structured_output == "json_schema"
    assert policy.tier("opus").chain == ("claude-opus-4-7",)
    assert policy.task_map == dict(DEFAULT_TASK_MAP)  # not named in the file: default


def test_file_with_other_tier_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tiers:
          - {name: small, model: m-small, threshold: 0.5}
          - {name: big, model: m-big, fallbacks: [m-small]}
        task_map: {translate: small, Design-Review: big}
        classifier_tier: big
        confidence: {self_report: 0.8, hedging_penalty: 0.1}
        """,
    )
    policy = load_policy(path)
    assert policy.tier_names == ("small", "big")
    assert policy.task_map == {"translate": "small", "Design-Review": "big"}
    assert policy.classifier == TierPolicy(name="big", model="m-big", fallbacks=("m-small",))
    assert policy.weights.self_report == 0.8
    assert policy.weights.hedging_penalty == 0.1
    assert policy.weights.prior == ConfidenceWeights().prior


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("tierz: []\n", "tierz", id="unknown-top-level-key"),
        pytest.param(
            "tiers:\n  - {name: haiku, model: m, treshold: 0.5}\ntask_map: {}\n",
            "treshold",
            id="unknown-tier-key",
        ),
        pytest.param(
            "tiers:\n  - {name: a, model: m1}\n  - {name: a, model: m2}\ntask_map: {}\n",
            "unique",
            id="duplicate-tier-names",
        ),
        pytest.param(
            "task_map: {commit_message: gpt}\n",
            "gpt",
            id="task-map-unknown-tier",
        ),
        pytest.param(
            "tiers:\n  - {name: small, model: m}\n",
            "task_map names unknown tiers",
            id="renamed-tiers-with-default-task-map",
        ),
        pytest.param("confidence: {self_reprot: 0.5}\n", "self_reprot", id="unknown-weight"),
        pytest.param("confidence: {self_report: 1.5}\n", "self_report", id="weight-out-of-range"),
        pytest.param("confidence: {prior: -0.1}\n", "prior", id="negative-weight"),
        pytest.param("classifier_tier: gpt\n", "classifier_tier", id="unknown-classifier-tier"),
        pytest.param("tiers: []\n", "tiers", id="no-tiers"),
        pytest.param(
            "tiers:\n  - {name: haiku, model: m, threshold: 1.5}\ntask_map: {}\n",
            "threshold",
            id="threshold-above-one",
        ),
        pytest.param(
            "tiers:\n  - {name: haiku, model: m, structured_output: xml}\ntask_map: {}\n",
            "structured_output",
            id="unknown-structured-output",
        ),
        pytest.param("tiers:\n  - {name: haiku}\ntask_map: {}\n", "model", id="tier-without-model"),
        pytest.param("- a\n- b\n", "mapping", id="list-not-mapping"),
        pytest.param("just a string\n", "mapping", id="scalar-not-mapping"),
        pytest.param("tiers: [\n", "cannot read", id="invalid-yaml"),
    ],
)
def test_bad_policy_file_raises_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.error_type == "config_error"


def test_missing_policy_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")


def test_policy_is_frozen() -> None:
    policy = Policy()
    with pytest.raises(ValueError):
        policy.classifier_tier = "opus"  # type: ignore[misc]


# Settings and topics


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.upper().startswith("STREAMROUTER_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.broker == "kafka://127.0.0.1:9092"
    assert settings.topic_prefix == "llm."
    assert settings.partitions == 4
    assert settings.policy_file is None
    assert settings.max_output_tokens == 21_000
    assert settings.cooldown_failures == 3
    assert settings.cooldown_s == 30.0


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ("STREAMROUTER_PARTITIONS", "partitions", 12),
        ("STREAMROUTER_BROKER", "broker", "kafka://broker:9093"),
        ("STREAMROUTER_TOPIC_PREFIX", "topic_prefix", "acme.llm."),
        ("STREAMROUTER_POLICY_FILE", "policy_file", Path("/etc/streamrouter/policy.yaml")),
        ("STREAMROUTER_MAX_PROMPT_CHARS", "max_prompt_chars", 5000),
        ("STREAMROUTER_MODEL_TIMEOUT_S", "model_timeout_s", 2.5),
        ("STREAMROUTER_COOLDOWN_S", "cooldown_s", 0.0),
        ("streamrouter_partitions", "partitions", 12),  # env names are case-insensitive
    ],
)
def test_settings_from_env(
    clean_env: pytest.MonkeyPatch, env: str, field: str, value: object
) -> None:
    clean_env.setenv(env, str(value))
    assert getattr(Settings(), field) == value


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("STREAMROUTER_PARTITIONS", "0"),
        ("STREAMROUTER_PARTITIONS", "four"),
        ("STREAMROUTER_WEB_PORT", "70000"),
        ("STREAMROUTER_MODEL_TIMEOUT_S", "0"),
        ("STREAMROUTER_COOLDOWN_FAILURES", "0"),
        ("STREAMROUTER_MAX_OUTPUT_TOKENS", "-1"),
    ],
)
def test_bad_settings_raise_config_error(
    clean_env: pytest.MonkeyPatch, env: str, value: str
) -> None:
    clean_env.setenv(env, value)
    with pytest.raises(ConfigError, match=env.removeprefix("STREAMROUTER_").lower()):
        load_settings_from_env()


def test_unrelated_env_is_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("STREAMROUTER_NO_SUCH_SETTING", "x")
    clean_env.setenv("PARTITIONS", "9")
    assert Settings().partitions == 4


@pytest.mark.parametrize(
    ("prefix", "names"),
    [
        (
            "llm.",
            {
                "requests": "llm.requests",
                "classify": "llm.route.classify",
                "completions": "llm.completions",
                "results": "llm.results",
                "dlq": "llm.dlq",
                "tier:haiku": "llm.tier.haiku",
                "tier:opus": "llm.tier.opus",
            },
        ),
        (
            "acme-prod.",
            {
                "requests": "acme-prod.requests",
                "results": "acme-prod.results",
                "dlq": "acme-prod.dlq",
                "tier:sonnet": "acme-prod.tier.sonnet",
            },
        ),
        ("", {"requests": "requests", "tier:haiku": "tier.haiku"}),
    ],
)
def test_topic_names(prefix: str, names: dict[str, str]) -> None:
    topics = Topics(prefix=prefix)
    for what, name in names.items():
        if what.startswith("tier:"):
            assert topics.tier(what.removeprefix("tier:")) == name
        else:
            assert getattr(topics, what) == name


def test_settings_topics_use_the_env_prefix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("STREAMROUTER_TOPIC_PREFIX", "team7.")
    topics = Settings().topics
    assert topics.requests == "team7.requests"
    assert topics.tier("opus") == "team7.tier.opus"
    assert topics.dlq == "team7.dlq"


def test_service_config_refuses_a_policy_model_without_a_price(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("tiers:\n  - {name: only, model: claude-mystery-9}\ntask_map: {}\n")
    monkeypatch.setenv("STREAMROUTER_POLICY_FILE", str(policy))

    with pytest.raises(ConfigError, match="claude-mystery-9"):
        load_service_config()


def test_service_config_defaults_are_all_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMROUTER_POLICY_FILE", raising=False)
    config = load_service_config()
    assert config.policy.models == ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7")


def test_learned_router_needs_a_file_and_resolves_it_next_to_the_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("router: {strategy: learned}\n")
    with pytest.raises(ConfigError, match="learned_path"):
        load_policy(bad)
    good = tmp_path / "good.yaml"
    good.write_text("router: {strategy: learned, learned_path: router.joblib, cutoff: 0.4}\n")
    policy = load_policy(good)
    assert policy.router.learned_path == tmp_path / "router.joblib"
    assert policy.router.cutoff == 0.4
