"""The Kafka topics of one app, declared with the service's partition count.

Every topic is declared by the service (created when missing) with ``partitions``
partitions. Events are keyed by request id (by parent id for subtasks, by tenant for
budgets) and the service's producer partitions keys with murmur2, so a key lands on the
same partition number in every topic: the tables rely on that (admission re-keys input
that a producer placed otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import faust
from aiokafka.partitioner import murmur2

from streamrouter.config import Policy, Settings

__all__ = ["TABLES", "AppTopics", "changelog_topics", "declare_topics", "default_partition"]

# The app's changelogged tables (``agents.base.Tables``), co-partitioned with the topics.
TABLES = ("ledger", "fanin", "spend")


@dataclass(frozen=True)
class AppTopics:
    requests: faust.TopicT
    classify: faust.TopicT
    budget: faust.TopicT
    tiers: dict[str, faust.TopicT]
    plan: faust.TopicT
    fanin: faust.TopicT
    synthesize: faust.TopicT
    spend: faust.TopicT
    completions: faust.TopicT
    results: faust.TopicT
    dlq: faust.TopicT
    feedback: faust.TopicT

    def forwarded_to(self) -> list[faust.TopicT]:
        """Where admit and the stages that forward one record for each they take
        (budget, classify, answer, synthesize) send it: the next stage's work, a
        completion, a fan-in event, or a dead letter. Not a re-keyed request: the
        requests topic holds the users' records, the largest to read, and a second
        copy is dropped as a duplicate once the first is admitted."""
        return [
            self.budget,
            self.classify,
            *self.tiers.values(),
            self.plan,
            self.completions,
            self.fanin,
            self.dlq,
        ]


def declare_topics(app: faust.App, settings: Settings, policy: Policy) -> AppTopics:
    names = settings.topics

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
            internal=True,  # internal = declared by the app when missing
        )

    return AppTopics(
        requests=topic(names.requests),
        classify=topic(names.classify),
        budget=topic(names.budget),
        tiers={tier: topic(names.tier(tier)) for tier in policy.tier_names},
        plan=topic(names.plan),
        fanin=topic(names.fanin),
        synthesize=topic(names.synthesize),
        spend=topic(names.spend),
        completions=topic(names.completions),
        results=topic(names.results),
        dlq=topic(names.dlq),
        feedback=topic(names.feedback),
    )


def changelog_topics(settings: Settings) -> list[str]:
    """Each table's changelog topic, named as Faust names them."""
    return [f"{settings.app_id}-{table}-changelog" for table in TABLES]


def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client and the
    service's own producer use) gives ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
