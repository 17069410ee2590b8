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

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.web import Request, Response, View

from streamrouter.agents import Runtime, Tables, register_agents
from streamrouter.config import BUILT_IN_POLICY, Policy, Settings
from streamrouter.kafka_security import load_kafka_security
from streamrouter.kafka_transport import StreamRouterTransport
from streamrouter.llm.pricing import PriceTable
from streamrouter.telemetry import tracing
from streamrouter.telemetry.metrics import CONTENT_TYPE, Metrics
from streamrouter.topics import TABLES, declare_topics

__all__ = ["StreamRouterApp", "create_app"]


class StreamRouterApp(faust.App):
    """Faust's app, with our Kafka transport, a bounded drain on shutdown and an owner
    for shutdown work.

    On SIGTERM Faust stops fetching and waits, with no limit, for every event being
    processed to be acked. Model calls can take a minute: after ``drain_timeout_s`` the
    rest is left un-acked, so its offsets are not committed and it is redelivered to
    whichever worker takes the partition over (the ledger keeps results single). The
    bound applies to shutdown only; a rebalance still waits for work in flight, so a
    revoked partition's requests are not answered twice.
    """

    def __init__(
        self,
        *args: Any,
        drain_timeout_s: float = 30.0,
        fetch_max_wait_ms: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.drain_timeout_s = drain_timeout_s
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self._shutting_down = False
        self._on_stopped: list[Callable[[], Awaitable[None]]] = []

    def on_stopped(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once the agents have stopped (clients they use may close)."""
        self._on_stopped.append(callback)

    async def on_stop(self) -> None:
        self._shutting_down = True
        await super().on_stop()

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        for callback in self._on_stopped:
            await callback()

    # The two overrides below replace private hooks of faust-streaming (pinned to the
    # version they were checked against, pyproject.toml).
    def _new_transport(self) -> StreamRouterTransport:
        return StreamRouterTransport(self.conf.broker_consumer, self)

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        if not self._shutting_down:
            await super()._consumer_wait_empty(consumer, logger)
            return
        # Not asyncio.wait_for: Faust's wait loop swallows the cancellation, so wait_for
        # would wait for it anyway. Left running, the loop ends when the consumer stops.
        draining = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        done, _ = await asyncio.wait({draining}, timeout=self.drain_timeout_s)
        if not done:
            draining.cancel()
            left = consumer.abandon_in_flight()
            logger.warning(
                "drain timeout (%.0fs): %d events still in flight are left for redelivery",
                self.drain_timeout_s,
                left,
            )


def create_app(
    settings: Settings, policy: Policy, prices: PriceTable, policy_version: str = BUILT_IN_POLICY
) -> faust.App:
    # The SDK's HTTP client logs every request at INFO; model calls are in the results.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    app = StreamRouterApp(
        settings.app_id,
        drain_timeout_s=settings.drain_timeout_s,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        # A fetched batch is handed to the agents' buffers before the next fetch; one far
        # larger than a buffer blocks every agent until that buffer's agent drains it.
        broker_max_poll_records=max(1, settings.stream_buffer_maxsize // 4),
        broker=settings.broker,
        broker_credentials=load_kafka_security().faust_credentials(),
        store="memory://",
        # The check guards RocksDB files against topics whose data was removed. The
        # tables here live in memory and are rebuilt from their changelogs; on tansu a
        # standby had read two records past the highwater the broker gave after the
        # active owner's SIGKILL, and the check crashed that healthy worker (a second
        # rebalance: 30 s more recovery, docs/hardening.md).
        recovery_consistency_check=False,
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
        **{name: app.Table(name, default=None, partitions=settings.partitions) for name in TABLES}
    )
    metrics = Metrics()
    runtime = Runtime(settings, policy, prices, topics, tables, metrics, policy_version)
    register_agents(app, runtime)
    _add_pages(app, metrics)

    @app.on_worker_init.connect
    def start_tracing(app: faust.App, **kwargs: Any) -> None:
        tracing.configure_tracing(settings.app_id)

    async def close_clients() -> None:
        await runtime.close()
        await asyncio.to_thread(tracing.shutdown_tracing)  # flushes spans over the network

    app.on_stopped(close_clients)

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
