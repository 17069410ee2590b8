"""How many partitions a worker runs with: the requests topic's, when someone else made it.

Every topic an agent reads and every table's changelog are co-partitioned with the
requests topic: a request's events and its ledger entry share a partition number. The
worker creates the topics it is missing with ``STREAMROUTER_PARTITIONS``. But a producer
deployed before the service makes the broker auto-create ``llm.requests`` with its own
default count (``num.partitions``: 1 on Apache Kafka, 4 on tansu). The worker then adopts
that count for every topic it creates. Topics that already exist with yet another count
cannot work together, and the worker refuses to start with one line naming them.

Deciding is pure (``partitions_to_use``); ``adopt_partitions`` reads the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiokafka.errors import KafkaError

from streamrouter.admin import TopicAdmin
from streamrouter.config import Policy, Settings
from streamrouter.errors import ConfigError
from streamrouter.topics import changelog_topics

__all__ = ["PartitionMismatchError", "adopt_partitions", "copartitioned", "partitions_to_use"]

log = logging.getLogger("streamrouter")

# How long a starting worker waits for the broker before it gives up.
BROKER_WAIT_S = 60.0


class PartitionMismatchError(ConfigError):
    """Topics the worker reads exist with partition counts that cannot work together."""


def copartitioned(settings: Settings, policy: Policy) -> list[str]:
    """The requests topic first, then every other topic that must have its count."""
    names = settings.topics
    return [names.requests, *names.internal(policy.tier_names), *changelog_topics(settings)]


def partitions_to_use(configured: int, requests: str, existing: Mapping[str, int]) -> int:
    """The count of ``requests`` if it exists, else ``configured``; every other topic in
    ``existing`` (name -> partitions) must have that count."""
    count = existing.get(requests, configured)
    wrong = {name: n for name, n in existing.items() if n != count}
    if not wrong:
        return count
    listed = ", ".join(f"{name} ({n} partitions)" for name, n in sorted(wrong.items()))
    if requests in existing:
        wanted = f"the {count} partitions of {requests}"
        fix = f"delete them (recreated with {count}; a deleted changelog loses its table)"
        if len(set(wrong.values())) == 1:
            fix += f", or recreate {requests} with {next(iter(wrong.values()))}"
    else:
        wanted = f"STREAMROUTER_PARTITIONS={count} partitions"
        fix = "set STREAMROUTER_PARTITIONS to theirs, or delete them"
    raise PartitionMismatchError(
        f"topics {listed} do not have {wanted}; a request's events and its ledger entry "
        f"must share a partition number: {fix}"
    )


async def adopt_partitions(
    settings: Settings, policy: Policy, *, wait_s: float = BROKER_WAIT_S
) -> Settings:
    """``settings`` with the partition count the broker's topics call for; ``wait_s``:
    how long to retry while the broker is unreachable."""
    names = copartitioned(settings, policy)
    admin = TopicAdmin(settings.broker)
    try:
        await admin.start(timeout=wait_s)
        states = await admin.describe(names)
    except KafkaError as exc:
        raise ConfigError(f"cannot read the topics from {settings.broker}: {exc!r}") from exc
    finally:
        await admin.stop()
    requests = settings.topics.requests
    count = partitions_to_use(
        settings.partitions, requests, {name: s.partitions for name, s in states.items()}
    )
    if count == settings.partitions:
        return settings
    log.warning(
        "%s exists with %d partitions (STREAMROUTER_PARTITIONS is %d): running with %d",
        requests,
        count,
        settings.partitions,
        count,
    )
    return settings.model_copy(update={"partitions": count})
