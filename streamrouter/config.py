"""Settings (environment) and routing policy (YAML file), validated once at start-up.

Settings are operational: where the broker is, topic names, limits, timeouts. Every
field is read from ``STREAMROUTER_<FIELD>`` (e.g. ``STREAMROUTER_BROKER``). The Anthropic
endpoint and key are read by the SDK itself from ``ANTHROPIC_BASE_URL`` and
``ANTHROPIC_API_KEY`` and never pass through here, so they cannot leak into logs.

The policy is what routing decides with: the ordered tiers, their models, fallback
chains and escalation thresholds, the task-type map and the confidence weights. The
defaults below are the policy; ``STREAMROUTER_POLICY_FILE`` points at a YAML file that
overrides any part of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamrouter.errors import ConfigError
from streamrouter.llm.pricing import PriceTable
from streamrouter.routing.budget import BudgetPolicy
from streamrouter.routing.bypass import BypassPolicy
from streamrouter.routing.confidence import ConfidenceWeights
from streamrouter.routing.task_map import DEFAULT_TASK_MAP

__all__ = [
    "BUILT_IN_POLICY",
    "CachePolicy",
    "OrchestratorPolicy",
    "Policy",
    "RouterPolicy",
    "ServiceConfig",
    "Settings",
    "TierPolicy",
    "Topics",
    "load_policy",
    "load_service_config",
    "parse_policy",
    "policy_version",
    "read_policy",
]

StructuredOutput = Literal["tool", "json_schema"]


class TierPolicy(BaseModel):
    """One tier: its model, the models to fall back to, and when it escalates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    fallbacks: tuple[str, ...] = ()
    # Below this combined confidence the answer escalates; None: this tier always answers.
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # Forced tool use works on the 4.x models; newer ones may need JSON-schema output.
    structured_output: StructuredOutput = "tool"

    @property
    def chain(self) -> tuple[str, ...]:
        return (self.model, *self.fallbacks)


def _default_tiers() -> tuple[TierPolicy, ...]:
    return (
        TierPolicy(name="haiku", model="claude-haiku-4-5", threshold=0.85),
        TierPolicy(
            name="sonnet",
            model="claude-sonnet-4-6",
            fallbacks=("claude-haiku-4-5",),
            threshold=0.80,
        ),
        TierPolicy(
            name="opus",
            model="claude-opus-4-7",
            fallbacks=("claude-sonnet-4-6", "claude-haiku-4-5"),
        ),
    )


class OrchestratorPolicy(BaseModel):
    """Orchestrator-workers: a planner splits the request, subtasks fan out, a synthesizer
    (both on the top tier) writes the answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_subtasks: int = Field(default=5, ge=1)
    # When not every subtask is back by then, the synthesizer runs with the missing named.
    deadline_s: float = Field(default=300.0, gt=0)
    # Requests with these task types are orchestrated as if they said mode: orchestrate.
    task_types: tuple[str, ...] = ("orchestration",)


class CachePolicy(BaseModel):
    """Prompt caching: stable prefixes long enough to be cached carry ``cache_control``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # The API caches prefixes from 1024 tokens (2048 and more on some models).
    min_prefix_tokens: int = Field(default=1024, ge=1)


class RouterPolicy(BaseModel):
    """What routes a request that neither pins a tier nor has a known task type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # classifier: the cheapest tier is asked (one call a request); learned: a local model
    # trained by ``streamrouter calibrate --router`` decides, with no model call.
    strategy: Literal["classifier", "learned"] = "classifier"
    learned_path: Path | None = None
    # Overrides the cut-off stored in the router file.
    cutoff: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _learned_needs_a_file(self) -> RouterPolicy:
        if self.strategy == "learned" and self.learned_path is None:
            raise ValueError("router.strategy learned needs router.learned_path")
        return self


class Policy(BaseModel):
    """What routing decides with. Tiers are ordered cheapest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiers: tuple[TierPolicy, ...] = Field(default_factory=_default_tiers, min_length=1)
    task_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TASK_MAP))
    # The tier whose model classifies requests (default: the cheapest).
    classifier_tier: str | None = None
    confidence: dict[str, float] = Field(default_factory=dict)
    router: RouterPolicy = Field(default_factory=RouterPolicy)
    bypass: BypassPolicy = Field(default_factory=BypassPolicy)
    budgets: BudgetPolicy = Field(default_factory=BudgetPolicy)
    orchestrator: OrchestratorPolicy = Field(default_factory=OrchestratorPolicy)
    cache: CachePolicy = Field(default_factory=CachePolicy)
    # How a tier answers: "tool" through the service's submit_answer tool (the model
    # reports its confidence), "natural" as the request was sent (the caller gets the
    # model's own content; confidence from the response). A request with tools,
    # tool_choice or thinking is always answered naturally.
    answer_mode: Literal["tool", "natural"] = "tool"

    @model_validator(mode="after")
    def _check_tier_names(self) -> Policy:
        names = self.tier_names
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {list(names)}")
        unknown = sorted({t for t in self.task_map.values() if t not in names})
        if unknown:
            raise ValueError(f"task_map names unknown tiers {unknown}; tiers are {list(names)}")
        if self.classifier_tier is not None and self.classifier_tier not in names:
            raise ValueError(f"classifier_tier {self.classifier_tier!r} is not a tier")
        ConfidenceWeights.from_mapping(self.confidence)
        budgets = [*self.budgets.tenants.values(), self.budgets.default]
        capped = {step.max_tier for b in budgets if b is not None for step in b.steps}
        if capped - set(names):
            raise ValueError(f"budget steps name unknown tiers {sorted(capped - set(names))}")
        return self

    @property
    def top(self) -> TierPolicy:
        return self.tiers[-1]

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)

    @property
    def thresholds(self) -> dict[str, float]:
        return {t.name: t.threshold for t in self.tiers if t.threshold is not None}

    @property
    def weights(self) -> ConfidenceWeights:
        return ConfidenceWeights.from_mapping(self.confidence)

    @property
    def models(self) -> tuple[str, ...]:
        """Every model the policy may call, each once."""
        return tuple(dict.fromkeys(m for tier in self.tiers for m in tier.chain))

    @property
    def classifier(self) -> TierPolicy:
        return self.tier(self.classifier_tier or self.tiers[0].name)

    def tier(self, name: str) -> TierPolicy:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)


class Topics(BaseModel):
    """Topic names, all under one prefix."""

    model_config = ConfigDict(frozen=True)

    prefix: str

    @property
    def requests(self) -> str:
        return f"{self.prefix}requests"

    @property
    def classify(self) -> str:
        return f"{self.prefix}route.classify"

    def tier(self, name: str) -> str:
        return f"{self.prefix}tier.{name}"

    @property
    def budget(self) -> str:
        return f"{self.prefix}route.budget"

    @property
    def plan(self) -> str:
        return f"{self.prefix}orchestrate.plan"

    @property
    def fanin(self) -> str:
        return f"{self.prefix}orchestrate.fanin"

    @property
    def synthesize(self) -> str:
        return f"{self.prefix}orchestrate.synthesize"

    @property
    def spend(self) -> str:
        return f"{self.prefix}spend"

    @property
    def completions(self) -> str:
        return f"{self.prefix}completions"

    @property
    def results(self) -> str:
        return f"{self.prefix}results"

    def internal(self, tiers: Sequence[str]) -> list[str]:
        """The topics between the requests topic and the results, in flow order."""
        return [
            self.budget,
            self.classify,
            *(self.tier(tier) for tier in tiers),
            self.plan,
            self.fanin,
            self.synthesize,
            self.completions,
            self.spend,
        ]

    @property
    def dlq(self) -> str:
        return f"{self.prefix}dlq"

    @property
    def feedback(self) -> str:
        return f"{self.prefix}feedback"


class Settings(BaseSettings):
    """Operational settings, from ``STREAMROUTER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="STREAMROUTER_", frozen=True, extra="ignore")

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "streamrouter"
    topic_prefix: str = "llm."
    # Every topic the service owns gets this many partitions; the input topic must match.
    partitions: int = Field(default=4, ge=1)
    policy_file: Path | None = None
    prices_file: Path | None = None
    web_port: int = Field(default=6066, ge=0, le=65535)
    data_dir: Path = Path("streamrouter-data")

    # Model calls in flight per tier agent (and for the classifier).
    max_in_flight: int = Field(default=32, ge=1)
    max_prompt_chars: int = Field(default=200_000, ge=1)
    max_output_tokens: int = Field(default=21_000, ge=1)
    # The largest input event accepted (bytes); keep it under the producer's 1 MB
    # max_request_size, since internal events carry the whole request.
    max_event_bytes: int = Field(default=900_000, ge=1)
    max_request_id_chars: int = Field(default=256, ge=1)
    # Content blocks in one request (system and messages, tool_result content included).
    max_content_blocks: int = Field(default=1_000, ge=1)
    # Decoded bytes of one base64 image or document; the API takes up to 5 MB an image
    # (and 32 MB a request), but a request over max_event_bytes is dead-lettered anyway.
    max_media_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    model_timeout_s: float = Field(default=60.0, gt=0)
    # One tier's call chain (its retries and fallbacks) ends within this; then an error
    # result with error.type "timeout" (a silent provider cannot hold a request forever).
    request_timeout_s: float = Field(default=90.0, gt=0)
    model_max_retries: int = Field(default=2, ge=0)
    cooldown_failures: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)
    # How often a worker checks that its topics exist (and recreates lost ones).
    topic_check_s: float = Field(default=30.0, gt=0)
    # How often a worker checks its policy file for a new version (SIGHUP: at once).
    policy_check_s: float = Field(default=5.0, gt=0)
    # On SIGTERM, how long to let work in flight finish before leaving it for redelivery.
    drain_timeout_s: float = Field(default=30.0, ge=0)
    # Events fetched ahead per agent: bounds the memory a backlog can take while the
    # model is slow (the consumer stops fetching when the buffer is full).
    stream_buffer_maxsize: int = Field(default=64, ge=1)
    # How long the ledger remembers a finished request id (a redelivery or a second
    # send within it gets no second result; after it, memory is freed).
    ledger_ttl_s: float = Field(default=3600.0, gt=0)
    # How long a fetch may wait on the broker for new records (aiokafka's default 500).
    fetch_max_wait_ms: int = Field(default=500, ge=0)

    # Consumer-group timing. Production keeps Kafka's defaults; dev and tests shorten them.
    kafka_session_timeout_s: float = 60.0
    kafka_rebalance_timeout_s: float = 60.0
    kafka_heartbeat_s: float = 3.0

    @property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)


# The version of the policy a worker runs without a policy file.
BUILT_IN_POLICY = "built-in"


def policy_version(content: bytes) -> str:
    """A policy file's version: the start of its content's SHA-256."""
    return hashlib.sha256(content).hexdigest()[:12]


def load_policy(path: Path | None) -> Policy:
    """The default policy, overridden by the YAML file at ``path`` if given."""
    return read_policy(path)[0]


def read_policy(path: Path | None) -> tuple[Policy, str]:
    """The policy and its version (``policy_version``), from one read of the file."""
    if path is None:
        return Policy(), BUILT_IN_POLICY
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {path}: {exc}") from exc
    return parse_policy(content, path), policy_version(content)


def parse_policy(content: bytes, path: Path) -> Policy:
    """The policy the YAML ``content`` of the file at ``path`` holds."""
    try:
        raw: Any = yaml.safe_load(content) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read policy file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"policy file {path} must hold a mapping")
    try:
        policy = Policy.model_validate(raw)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"invalid policy file {path}: {exc}") from exc
    learned = policy.router.learned_path
    if learned is not None and not learned.is_absolute():
        # A router file next to the policy file is found wherever the worker runs.
        router = policy.router.model_copy(update={"learned_path": path.parent / learned})
        policy = policy.model_copy(update={"router": router})
    return policy


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid STREAMROUTER_* settings: {exc}") from exc


@dataclass(frozen=True)
class ServiceConfig:
    settings: Settings
    policy: Policy
    prices: PriceTable
    policy_version: str = BUILT_IN_POLICY


def load_service_config() -> ServiceConfig:
    """Settings, policy and prices, checked together: every model the policy may call
    must have a price, so no paid call ever fails to be priced."""
    settings = load_settings()
    policy, version = read_policy(settings.policy_file)
    prices = PriceTable.load(settings.prices_file) if settings.prices_file else PriceTable.default()
    for model in policy.models:
        prices.price_for(model)
    return ServiceConfig(settings, policy, prices, version)
