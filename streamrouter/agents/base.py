"""What every agent shares: the runtime, the agent loop, sending, and the one place
that decides what a failed stage leaves behind.

Concurrency follows Faust's rules: agents that write a table run one actor and only
do quick work; agents that wait on model calls run ``max_in_flight`` actors and never
write tables. Every event is processed inside a consumer span that continues the trace
from its headers, and every send carries the trace on in its own headers.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

import faust
from aiokafka.errors import KafkaError
from faust.types import EventT

from streamrouter.agents.expiry import finished_at
from streamrouter.agents.handover import SOURCE_HEADER, PreviousOwner, source_of
from streamrouter.agents.recent import RecentlyTaken
from streamrouter.codec import decode_or_none, encode
from streamrouter.config import BUILT_IN_POLICY, Policy, Settings
from streamrouter.errors import ConfigError
from streamrouter.events import DeadLetter, FanInEvent, LLMResult, Record, WorkItem
from streamrouter.llm.client import ModelGateway, create_anthropic_client
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.llm.pricing import PriceTable
from streamrouter.llm.retry import RetryPolicy
from streamrouter.pipeline.admit import SourceRecord, dead_letter
from streamrouter.pipeline.context import PipelineContext
from streamrouter.results import error_result
from streamrouter.routing.bypass import BypassWindow
from streamrouter.routing.learned import LearnedRouter, LearnedRouterError
from streamrouter.routing.validate import RequestLimits
from streamrouter.telemetry import tracing
from streamrouter.telemetry.metrics import Metrics
from streamrouter.topics import AppTopics

__all__ = [
    "AgentGroup",
    "Runtime",
    "Tables",
    "load_learned_router",
    "model_call_limit",
    "utcnow",
]

log = logging.getLogger("streamrouter.agents")

# Pauses between tries to send what a failed stage leaves behind.
LEAVE_BEHIND_FIRST_PAUSE_S = 0.5
LEAVE_BEHIND_MAX_PAUSE_S = 30.0

Handler = Callable[[SourceRecord], Awaitable[None]]

# The record the current actor is handling, named in the header of what it sends.
_source: contextvars.ContextVar[str | None] = contextvars.ContextVar("source", default=None)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Tables:
    # request_id -> "admitted@<requests offset>" | "done@<epoch s>" (agents.expiry).
    ledger: faust.Table
    # parent request_id -> FanInState (JSON): an orchestrated request's fan-in.
    fanin: faust.Table
    # "tenant|period" -> [USD spent, last llm.spend offset booked] (routing.budget.Spend).
    spend: faust.Table


class Runtime:
    """The worker's shared state: settings, policy, topics, tables, metrics, model access."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        prices: PriceTable,
        topics: AppTopics,
        tables: Tables,
        metrics: Metrics,
        policy_version: str = BUILT_IN_POLICY,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.prices = prices
        self.topics = topics
        self.tables = tables
        self.metrics = metrics
        self.bypass = BypassWindow(policy.bypass)
        self.learned = load_learned_router(policy)
        # What routes: the policy file's version (config.policy_version), or the built-in.
        self.policy_version = policy_version
        # The records taken lately: a second copy of one is skipped.
        self.taken = RecentlyTaken()
        # What the previous owner of a partition wrote: reset at each assignment.
        self.handover = PreviousOwner(
            settings.broker,
            topics.results.get_topic_name(),
            [topic.get_topic_name() for topic in topics.forwarded_to()],
        )

    @cached_property
    def ctx(self) -> PipelineContext:
        """Built on first use, inside the worker: the SDK client needs the API settings."""
        settings = self.settings
        retry = RetryPolicy(
            max_retries=settings.model_max_retries,
            attempt_timeout_s=settings.model_timeout_s,
            budget_s=settings.request_timeout_s,
        )
        return PipelineContext(
            policy=self.policy,
            limits=RequestLimits(
                settings.max_prompt_chars,
                settings.max_output_tokens,
                settings.max_event_bytes,
                settings.max_request_id_chars,
                settings.max_content_blocks,
                settings.max_media_bytes,
            ),
            gateway=ModelGateway(
                create_anthropic_client(model_call_limit(settings, self.policy)),
                self.prices,
                _cache_min_tokens(self.policy),
                retry=retry,
            ),
            cooldowns=Cooldowns(settings.cooldown_failures, settings.cooldown_s),
        )

    def use_policy(self, policy: Policy, version: str) -> None:
        """Route by ``policy`` from the next event on (``policy_file.reload_refusal`` has
        passed it). Raises ``ConfigError`` for a learned router that does not load, with
        the running policy kept."""
        learned = load_learned_router(policy)
        if policy.bypass != self.policy.bypass:
            self.bypass = BypassWindow(policy.bypass)
        self.policy, self.learned, self.policy_version = policy, learned, version
        if "ctx" in self.__dict__:
            self.__dict__["ctx"] = replace(self.ctx, policy=policy)

    async def close(self) -> None:
        if "ctx" in self.__dict__:
            await self.ctx.gateway.close()


class AgentGroup(ABC):
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.topics = runtime.topics
        self.tables = runtime.tables

    @abstractmethod
    def register(self, app: faust.App) -> None:
        """Declare this group's agents (and timers) on the app."""

    async def finished(self, record: SourceRecord, request_id: str) -> bool:
        """Done here (the ledger), or by the partition's previous owner (its results)."""
        if finished_at(self.tables.ledger.get(request_id)) is not None:
            return True
        return await self.rt.handover.finished(request_id, record.timestamp)

    def loop(
        self, stage: str, handle: Handler, forwards_one: bool = False
    ) -> Callable[[faust.StreamT], Awaitable[None]]:
        """The agent body every stage shares: trace, count, handle, never crash.

        A stage that ``forwards_one`` record for each it takes (budget, classify, answer,
        synthesize) skips a record whose forwarded one is already out (``handover``):
        its model call was made and paid for, its work is on its way."""
        metrics = self.rt.metrics

        async def agent(stream: faust.StreamT) -> None:
            events: AsyncIterator[EventT] = stream.events()
            async for event in events:
                record = _source_record(event)
                with (
                    tracing.consume_span(
                        record.topic, record.partition, record.offset, record.key, record.headers
                    ),
                    metrics.processing(stage),
                ):
                    source = record_source(record)
                    _source.set(source)
                    if not self.rt.taken.take(source):
                        log.info("%s was delivered twice; the first copy is taken", source)
                        metrics.observe_skipped(stage, "taken")
                        continue
                    try:
                        if forwards_one and await self.rt.handover.processed(
                            source, record.timestamp
                        ):
                            log.info("%s was processed before it was handed over", source)
                            metrics.observe_skipped(stage, "forwarded")
                            continue
                        await handle(record)
                    except Exception as exc:
                        await self.on_stage_error(record, exc)

        agent.__name__ = agent.__qualname__ = stage.replace("-", "_")
        return agent

    async def send(self, topic: faust.TopicT, event: Record, key: str) -> None:
        await self.publish(topic, key.encode(), encode(event))

    async def publish(self, topic: faust.TopicT, key: bytes | None, value: bytes) -> None:
        with tracing.publish_span(topic.get_topic_name(), key) as headers:
            if (source := _source.get()) is not None:
                headers[SOURCE_HEADER] = source.encode()
            await topic.send(key=key, value=value, headers=headers)

    async def send_work(self, work: WorkItem) -> None:
        """To the stage its state asks for; subtasks stay keyed by their parent."""
        if work.tier is not None:
            topic = self.topics.tiers[work.tier]
        elif work.route is not None and work.route.strategy == "orchestrator":
            topic = self.topics.plan
        else:
            topic = self.topics.classify
        await self.send(topic, work, work_key(work))

    async def finish(self, work: WorkItem, result: LLMResult) -> None:
        """A final result: to the fan-in for a subtask, else to be finalized."""
        if work.parent_id is not None:
            await self.send(self.topics.fanin, FanInEvent(result=result), work.parent_id)
        else:
            await self.send(self.topics.completions, result, result.request_id)

    async def dead_letter(self, dead: DeadLetter) -> None:
        log.warning(
            "dead letter from %s[%d]@%d: %s: %s",
            dead.topic,
            dead.partition,
            dead.offset,
            dead.error_type,
            dead.error_message,
        )
        tracing.record_event(
            "dead_letter", {"error.type": dead.error_type, "error.message": dead.error_message}
        )
        self.rt.metrics.observe_dead_letter(dead.error_type)
        await self.publish(self.topics.dlq, dead.key, encode(dead))

    async def on_stage_error(self, record: SourceRecord, exc: Exception) -> None:
        """The one place that decides what a failed stage leaves behind: a work item (or
        an orchestration plan) ends in an error result, so every valid request gets one;
        anything else is dead-lettered with the reason. Nothing here escapes the agent
        loop (Faust would ack and skip the event), and the event is not given up until
        what it leaves behind is sent: a send that failed for a passing reason (the
        broker away, a timeout) is tried again, with a growing pause, for as long as the
        worker runs (on shutdown the event is left for redelivery); one that cannot
        succeed (a record too large, a topic refused) leaves a bare dead letter instead."""
        log.exception("stage failed on %s[%d]@%d", record.topic, record.partition, record.offset)
        pause_s = LEAVE_BEHIND_FIRST_PAUSE_S
        while True:
            try:
                await self._leave_behind(record, exc)
                return
            except Exception as failure:
                if not is_transient(failure):
                    await self._leave_bare_dead_letter(record, exc, failure)
                    return
                log.exception(
                    "could not record the failure of %s[%d]@%d; trying again in %.1f s",
                    record.topic,
                    record.partition,
                    record.offset,
                    pause_s,
                )
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, LEAVE_BEHIND_MAX_PAUSE_S)

    async def _leave_bare_dead_letter(
        self, record: SourceRecord, exc: Exception, failure: Exception
    ) -> None:
        """A dead letter with no key and no value (they stay at the source offset); if
        even that cannot be sent, the failure is logged and the event given up."""
        bare = SourceRecord(None, None, record.topic, record.partition, record.offset)
        reason = f"{exc!r}; what it left behind could not be sent: {failure!r}"
        try:
            await self.dead_letter(dead_letter(bare, "internal_error", reason[:2000], utcnow()))
        except Exception:
            log.exception("gave up %s[%d]@%d", record.topic, record.partition, record.offset)

    async def _leave_behind(self, record: SourceRecord, exc: Exception) -> None:
        now = utcnow()
        work = decode_or_none(record.value, WorkItem)
        if work is None and (event := decode_or_none(record.value, FanInEvent)) is not None:
            work = event.plan
        if work is not None:
            result = error_result(work, error_type="internal_error", message=repr(exc), now=now)
            await self.finish(work, result)
            return
        error_type = getattr(exc, "error_type", "internal_error")
        await self.dead_letter(dead_letter(record, error_type, repr(exc), now))


def is_transient(exc: BaseException) -> bool:
    """Whether a failed send may succeed if tried again: the broker away or slow, or a
    Kafka error the client calls retriable (the cause of a wrapped one counts)."""
    for error in (exc, exc.__cause__):
        if isinstance(error, KafkaError) and error.retriable:
            return True
        if isinstance(error, TimeoutError | ConnectionError):
            return True
    return False


def model_call_limit(settings: Settings, policy: Policy) -> int:
    """The most model calls a worker can have in flight, and so the connections its SDK
    client may open: ``max_in_flight`` for each agent that calls a model (classify, one
    answer agent per tier, plan and synthesize)."""
    return settings.max_in_flight * (len(policy.tiers) + 3)


def load_learned_router(policy: Policy) -> LearnedRouter | None:
    router = policy.router
    if router.strategy != "learned" or router.learned_path is None:
        return None
    try:
        learned = LearnedRouter.load(router.learned_path)
    except LearnedRouterError as exc:
        raise ConfigError(str(exc)) from exc
    return learned if router.cutoff is None else learned.with_cutoff(router.cutoff)


def _cache_min_tokens(policy: Policy) -> int | None:
    return policy.cache.min_prefix_tokens if policy.cache.enabled else None


def record_source(record: SourceRecord) -> str:
    return source_of(record.topic, record.partition, record.offset, record.timestamp)


def work_key(work: WorkItem) -> str:
    return work.parent_id or work.request.request_id


def _source_record(event: EventT) -> SourceRecord:
    message = event.message
    return SourceRecord(
        key=event.key,
        value=event.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        headers=dict(event.headers or {}),
        timestamp=message.timestamp or 0.0,
    )
