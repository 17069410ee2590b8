"""The Faust app: topics, the de-duplication ledger, and the agents wired together.

requests ──admit──┬─> route.classify ──classify──> tier.<name>
                  ├─> tier.<name> ──answer──┬─> tier.<next>   (escalation)
                  │                         └─> completions ──finalize──> results
                  └─> dlq
"""

from __future__ import annotations

import logging

import faust

from streamrouter.agents import Agents
from streamrouter.config import Policy, Settings
from streamrouter.llm.pricing import PriceTable
from streamrouter.topics import declare_topics

__all__ = ["create_app"]


def create_app(settings: Settings, policy: Policy, prices: PriceTable) -> faust.App:
    # The SDK's HTTP client logs every request at INFO; model calls are in the results.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store="memory://",
        datadir=str(settings.data_dir),
        web_port=settings.web_port,
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_rebalance_timeout=settings.kafka_rebalance_timeout_s,
        broker_heartbeat_interval=settings.kafka_heartbeat_s,
    )
    topics = declare_topics(app, settings, policy)
    # request_id -> "admitted" | "done"; changelogged, so it survives restarts.
    ledger = app.Table("ledger", default=None, partitions=settings.partitions)
    Agents(settings, policy, prices, topics, ledger).register(app)
    return app
