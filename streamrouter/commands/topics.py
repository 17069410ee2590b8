"""``streamrouter topics create|check`` (``streamrouter.admin`` decides and talks to the
broker). Faust's topics are named from the settings (``faust_topics_for``): the Faust
app, and the worker's stack with it, is not built."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from streamrouter.commands import option, run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from streamrouter.admin import TopicReport, TopicSpec
    from streamrouter.config import Policy, Settings
    from streamrouter.kafka_security import KafkaSecurity

__all__ = ["topics"]


@click.command()
@click.argument("action", type=click.Choice(["create", "check"]))
@option(
    "--wait",
    type=float,
    default=60.0,
    help="Seconds to keep retrying while the broker is unreachable.",
)
def topics(action: str, wait: float) -> None:
    """Create (if missing) or check the service's Kafka topics; non-zero exit if wrong."""
    from aiokafka.errors import KafkaError

    from streamrouter.admin import (
        faust_topics_for,
        format_reports,
        load_topic_settings,
        plan_topics,
    )
    from streamrouter.config import load_service_config
    from streamrouter.errors import ConfigError
    from streamrouter.kafka_security import load_kafka_security

    config = load_service_config()
    try:
        topic_settings = load_topic_settings()
        security = load_kafka_security()
    except ConfigError as exc:
        print(f"streamrouter topics {action}: {exc}", flush=True)
        raise SystemExit(2) from exc
    settings = _as_the_worker_runs(config.settings, config.policy, action, wait)
    specs = plan_topics(
        settings,
        config.policy,
        topic_settings,
        faust_topics_for(settings, topic_settings.replication_factor),
    )
    print(f"broker {settings.broker} ({security.describe()})", flush=True)
    try:
        reports = run(_run(action, settings.broker, security, specs, wait))
    except KafkaError as exc:
        print(f"streamrouter topics {action}: {exc!r}", flush=True)
        raise SystemExit(1) from exc
    print(format_reports(reports), flush=True)
    if not all(r.ok for r in reports):
        raise SystemExit(1)


def _as_the_worker_runs(settings: Settings, policy: Policy, action: str, wait: float) -> Settings:
    """The settings with the partition count a worker would adopt (``partitions.py``):
    the topics are created and checked for that count."""
    from streamrouter.errors import ConfigError
    from streamrouter.partitions import PartitionMismatchError, adopt_partitions

    try:
        adopted = run(adopt_partitions(settings, policy, wait_s=wait))
    except PartitionMismatchError:
        return settings  # the reports name the topics that differ
    except ConfigError as exc:
        print(f"streamrouter topics {action}: {exc}", flush=True)
        raise SystemExit(1) from exc
    if adopted.partitions != settings.partitions:
        print(
            f"{settings.topics.requests} has {adopted.partitions} partitions"
            f" (STREAMROUTER_PARTITIONS={settings.partitions} applies only when the service"
            f" creates it): as a worker does, every topic is meant to have {adopted.partitions}",
            flush=True,
        )
    return adopted


async def _run(
    action: str, broker: str, security: KafkaSecurity, specs: Sequence[TopicSpec], wait: float
) -> list[TopicReport]:
    from streamrouter.admin import TopicAdmin, check_topics, create_topics

    admin = TopicAdmin(broker, security)
    try:
        await admin.start(timeout=wait)
        return await (create_topics if action == "create" else check_topics)(admin, specs)
    finally:
        await admin.stop()
