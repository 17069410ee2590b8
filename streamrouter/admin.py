"""Topic management: create the service's topics before the workers start, or check them.

``streamrouter topics create`` creates every missing topic with the configured partitions,
replication factor and retention, and checks the ones that exist (it never recreates,
repartitions or reconfigures a topic). ``streamrouter topics check`` only checks. Both
print one line per topic and exit non-zero when a topic is missing or has the wrong
partition count: the ledger table is co-partitioned with the input topic, so a partition
count that differs would route a request's events to a ledger partition that does not
hold its id.

The topics are the service's own (``Topics`` in ``config.py``: requests, the internal
ones between it and the results (``Topics.internal``), results, dlq, feedback) and
Faust's (each table's changelog, compacted, and the assignor's leader topic). Faust
would create its own topics with a replication factor of 1; creating them here gives
them the configured one.

Settings read here, besides the service's (``STREAMROUTER_*``):

    STREAMROUTER_REPLICATION_FACTOR    replication factor of created topics (default 1)
    STREAMROUTER_RESULTS_RETENTION_MS  retention.ms of the results topic (default: broker's)
    STREAMROUTER_DLQ_RETENTION_MS      retention.ms of the dead-letter topic (default: broker's)

Deciding what to create and whether a topic matches is pure (``plan_topics``,
``compare_topic``); ``TopicAdmin`` is the thin aiokafka shell around it, and
``streamrouter.commands.topics`` the command.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamrouter.client import bootstrap_servers
from streamrouter.config import Policy, Settings
from streamrouter.errors import ConfigError
from streamrouter.kafka_security import KafkaSecurity, load_kafka_security
from streamrouter.topics import changelog_topics

if TYPE_CHECKING:
    import faust

__all__ = [
    "TopicAdmin",
    "TopicReport",
    "TopicSettings",
    "TopicSpec",
    "TopicState",
    "check_topics",
    "compare_topic",
    "create_topics",
    "faust_topics",
    "faust_topics_for",
    "format_reports",
    "load_topic_settings",
    "plan_topics",
]

RETENTION = "retention.ms"
CLEANUP = "cleanup.policy"
TOPIC_ALREADY_EXISTS = 36


class TopicSettings(BaseSettings):
    """How created topics are configured, from ``STREAMROUTER_*`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMROUTER_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    replication_factor: int = Field(default=1, ge=1)
    # None: the broker's default; -1: keep forever.
    results_retention_ms: int | None = Field(default=None, ge=-1)
    dlq_retention_ms: int | None = Field(default=None, ge=-1)


def load_topic_settings() -> TopicSettings:
    try:
        return TopicSettings()
    except ValidationError as exc:
        raise ConfigError(f"invalid STREAMROUTER_* topic settings: {exc}") from exc


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the service wants it."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)
    owner: Literal["service", "faust"] = "service"


@dataclass(frozen=True)
class TopicState:
    """A topic as the broker has it. ``configs`` is None when the broker did not say."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] | None = None


@dataclass(frozen=True)
class TopicReport:
    spec: TopicSpec
    state: TopicState | None
    created: bool = False
    errors: tuple[str, ...] = ()  # the service cannot run correctly: exit non-zero
    warnings: tuple[str, ...] = ()  # worth an operator's look, not fatal

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def status(self) -> str:
        if self.state is None:
            return "missing"
        if self.errors:
            return "wrong"
        return "created" if self.created else "ok"


def plan_topics(
    settings: Settings,
    policy: Policy,
    topic_settings: TopicSettings,
    faust_owned: Iterable[TopicSpec] = (),
) -> list[TopicSpec]:
    """Every topic the service needs, in flow order, then Faust's."""
    names = settings.topics
    replication = topic_settings.replication_factor

    def spec(name: str, retention_ms: int | None = None) -> TopicSpec:
        configs = {RETENTION: str(retention_ms)} if retention_ms is not None else {}
        return TopicSpec(name, settings.partitions, replication, configs)

    return [
        spec(names.requests),
        *(spec(name) for name in names.internal(policy.tier_names)),
        spec(names.results, topic_settings.results_retention_ms),
        spec(names.dlq, topic_settings.dlq_retention_ms),
        spec(names.feedback, topic_settings.results_retention_ms),
        *faust_owned,
    ]


def faust_topics(app: faust.App, replication_factor: int) -> list[TopicSpec]:
    """Faust's own topics: every table's changelog (compacted, the table's partitions)
    and the leader-assignor topic (one partition)."""
    specs = []
    for table in app.tables.values():
        changelog = table.changelog_topic
        configs = {CLEANUP: "compact"} if changelog.compacting else {}
        specs.append(
            TopicSpec(
                changelog.get_topic_name(),
                changelog.partitions or app.conf.topic_partitions,
                replication_factor,
                configs,
                owner="faust",
            )
        )
    specs.append(_leader_topic(app.conf.id, replication_factor))
    return specs


def faust_topics_for(settings: Settings, replication_factor: int) -> list[TopicSpec]:
    """``faust_topics`` of the service's app (``create_app(settings, ...)``), without
    building it (and importing the worker's stack): the changelogs of its tables
    (``topics.TABLES``, with the service's partitions) and the leader topic."""
    specs = [
        TopicSpec(name, settings.partitions, replication_factor, {CLEANUP: "compact"}, "faust")
        for name in changelog_topics(settings)
    ]
    specs.append(_leader_topic(settings.app_id, replication_factor))
    return specs


def _leader_topic(app_id: str, replication_factor: int) -> TopicSpec:
    # faust.assignor.leader_assignor names it so; Faust declares it with one partition.
    return TopicSpec(f"{app_id}-__assignor-__leader", 1, replication_factor, owner="faust")


def compare_topic(spec: TopicSpec, state: TopicState | None, created: bool = False) -> TopicReport:
    """Whether the broker's topic serves the service as specified."""
    if state is None:
        return TopicReport(spec, None, created, errors=("missing",))
    errors: list[str] = []
    warnings: list[str] = []
    if state.partitions != spec.partitions:
        errors.append(f"has {state.partitions} partitions, needs {spec.partitions}")
    if state.replication_factor < spec.replication_factor:
        warnings.append(
            f"replication factor {state.replication_factor},"
            f" STREAMROUTER_REPLICATION_FACTOR is {spec.replication_factor}"
        )
    if spec.configs and state.configs is None:
        warnings.append("the broker did not describe its configs: " + _configs(spec.configs))
    elif state.configs is not None:
        for key, wanted in spec.configs.items():
            actual = state.configs.get(key)
            if actual is not None and actual != wanted:
                warnings.append(
                    f"{key}={actual}, configured {wanted} (alter it with kafka-configs)"
                )
    return TopicReport(spec, state, created, tuple(errors), tuple(warnings))


class TopicAdmin:
    """aiokafka's admin client with the service's security settings; start/stop or
    ``async with``. Only reads metadata and creates topics."""

    def __init__(
        self,
        broker_url: str,
        security: KafkaSecurity | None = None,
        *,
        request_timeout_ms: int = 30_000,
    ) -> None:
        security = security or load_kafka_security()
        self._client = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers(broker_url),
            client_id="streamrouter-admin",
            request_timeout_ms=request_timeout_ms,
            **security.aiokafka_kwargs(),
        )
        self._started = False

    async def start(self, timeout: float = 0.0) -> None:
        """Connect; retry for up to ``timeout`` seconds (a broker that is still starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self._client.start()
                self._started = True
                return
            except KafkaConnectionError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._client.close()

    async def __aenter__(self) -> TopicAdmin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def describe(self, names: Iterable[str]) -> dict[str, TopicState]:
        """The named topics that exist. Reads the metadata of all topics rather than of
        these names: a metadata request naming a missing topic would create it on a
        broker with auto.create.topics.enable, with the broker's defaults."""
        wanted = set(names)
        metadata = await self._client.describe_topics()
        found = {
            t["topic"]: t["partitions"]
            for t in metadata
            if t["topic"] in wanted and t["error_code"] == 0
        }
        configs = await self._describe_configs(sorted(found))
        return {
            name: TopicState(
                name,
                len(partitions),
                min((len(p["replicas"]) for p in partitions), default=0),
                configs.get(name) if configs is not None else None,
            )
            for name, partitions in found.items()
        }

    async def _describe_configs(self, names: Sequence[str]) -> dict[str, dict[str, str]] | None:
        """Topic configs, or None when the broker does not support describing them."""
        if not names:
            return {}
        try:
            responses = await self._client.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
            )
        except KafkaError:
            return None
        configs: dict[str, dict[str, str]] = {}
        for response in responses:
            for error_code, _message, _type, name, entries in response.resources:
                if error_code == 0:
                    configs[name] = {
                        entry[0]: entry[1] for entry in entries if entry[1] is not None
                    }
        return configs

    async def create(self, specs: Sequence[TopicSpec]) -> dict[str, str]:
        """Create these topics; the ones that failed, with the broker's reason. A topic
        that another process created meanwhile is not a failure."""
        if not specs:
            return {}
        response = await self._client.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs))
                for s in specs
            ]
        )
        failed = {}
        for name, error_code, *rest in response.topic_errors:
            if error_code not in (0, TOPIC_ALREADY_EXISTS):
                message = rest[0] if rest and rest[0] else for_code(error_code).__name__
                failed[name] = f"{message} (error {error_code})"
        return failed


async def check_topics(admin: TopicAdmin, specs: Sequence[TopicSpec]) -> list[TopicReport]:
    states = await admin.describe(s.name for s in specs)
    return [compare_topic(spec, states.get(spec.name)) for spec in specs]


async def create_topics(
    admin: TopicAdmin, specs: Sequence[TopicSpec], *, settle_s: float = 10.0
) -> list[TopicReport]:
    """Create the missing topics, then check them all."""
    before = await admin.describe(s.name for s in specs)
    missing = [s for s in specs if s.name not in before]
    failed = await admin.create(missing)
    created = {s.name for s in missing} - failed.keys()
    # A created topic can take a moment to show in every broker's metadata.
    deadline = time.monotonic() + settle_s
    while True:
        states = await admin.describe(s.name for s in specs)
        if created <= states.keys() or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.5)
    reports = []
    for spec in specs:
        report = compare_topic(spec, states.get(spec.name), created=spec.name in created)
        if spec.name in failed:
            report = TopicReport(spec, None, errors=(f"create failed: {failed[spec.name]}",))
        reports.append(report)
    return reports


def format_reports(reports: Sequence[TopicReport]) -> str:
    """A table, one topic a line, then what is wrong."""
    rows = [("topic", "partitions", "replication", "owner", "status")]
    for r in reports:
        have = r.state
        rows.append(
            (
                r.spec.name,
                _have_want(have.partitions if have else None, r.spec.partitions),
                _have_want(have.replication_factor if have else None, r.spec.replication_factor),
                r.spec.owner,
                r.status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for r in reports:
        lines += [f"error: {r.spec.name}: {e}" for e in r.errors if e != "missing"]
        lines += [f"warning: {r.spec.name}: {w}" for w in r.warnings]
    if any(r.state and r.state.partitions != r.spec.partitions for r in reports):
        lines.append(
            "Kafka cannot shrink a topic, and growing one moves keys to other partitions"
            " (the ledger would lose track of requests): recreate the topics, or set"
            " STREAMROUTER_PARTITIONS to what they have."
        )
    failed = [r for r in reports if not r.ok]
    lines.append(
        f"{len(reports) - len(failed)} of {len(reports)} topics ok"
        + (f"; {len(failed)} missing or wrong" if failed else "")
    )
    return "\n".join(lines)


def _have_want(have: int | None, want: int) -> str:
    if have is None:
        return f"- (want {want})"
    return str(have) if have == want else f"{have} (want {want})"


def _configs(configs: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in configs.items())
