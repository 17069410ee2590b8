"""The Faust app: topics, the de-duplication ledger, the agents, and the web pages.

    requests ─admit─┬─> [route.budget ─budget─>] ─┬─> route.classify ─classify─> tier.<name>
                    │                             ├─> tier.<name> ─answer─┬─> tier.<next>
                    │                             │                       └─> completions
                    │                             └─> orchestrate.plan ─plan─> fanin + tiers
                    └─> dlq        orchestrate.fanin ─fanin─> orchestrate.synthesize ─> completions
    completions ─finalize─> results (+ spend ─spend─> the spend table, for budgets)

The worker's web port serves ``/metrics`` (Prometheus) and ``/healthz``.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.web import Request, Response, View

from streamrouter.agents import Runtime, Tables, register_agents
from streamrouter.config import Policy, Settings
from streamrouter.kafka_security import load_kafka_security
from streamrouter.llm.pricing import PriceTable
from streamrouter.telemetry import tracing
from streamrouter.telemetry.metrics import CONTENT_TYPE, Metrics
from streamrouter.topics import declare_topics

__all__ = ["create_app"]


def create_app(settings: Settings, policy: Policy, prices: PriceTable) -> faust.App:
    # The SDK's HTTP client logs every request at INFO; model calls are in the results.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=load_kafka_security().faust_credentials(),
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
    # Changelogged tables: they survive restarts and move with their partitions.
    tables = Tables(
        ledger=app.Table("ledger", default=None, partitions=settings.partitions),
        fanin=app.Table("fanin", default=None, partitions=settings.partitions),
        spend=app.Table("spend", default=float, partitions=settings.partitions),
    )
    metrics = Metrics()
    runtime = Runtime(settings, policy, prices, topics, tables, metrics)
    register_agents(app, runtime)
    _add_pages(app, metrics)

    @app.on_worker_init.connect
    def start_tracing(app: faust.App, **kwargs: Any) -> None:
        tracing.configure_tracing(settings.app_id)

    @app.on_before_shutdown.connect
    async def close_clients(app: faust.App, **kwargs: Any) -> None:
        await runtime.close()
        tracing.shutdown_tracing()

    return app


def _add_pages(app: faust.App, metrics: Metrics) -> None:
    @app.page("/metrics")
    class MetricsPage(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/healthz")
    class HealthPage(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})
