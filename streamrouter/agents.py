"""The agents: short loops that decode, call a pipeline stage, and send what it returns.

Concurrency follows Faust's rules: the agents that write the ledger table (admit,
finalize) run one actor each and only do quick work; the agents that wait on model
calls (classify, one per tier) run ``max_in_flight`` actors and never write tables.

Every event is processed inside a consumer span that continues the trace from the
event's headers, and every send carries the trace on in its own headers.

Error handling has one decision point, :meth:`Agents._on_stage_error`: an exception
inside a stage never kills an agent or skips a message silently. A work item that
decoded ends in an error result (every valid request gets one result); anything else
goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import cached_property

import faust
from faust.types import EventT

from streamrouter.codec import decode, encode
from streamrouter.config import Policy, Settings
from streamrouter.events import DeadLetter, LLMResult, Route, WorkItem
from streamrouter.llm.client import ModelGateway, create_anthropic_client
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.llm.pricing import PriceTable
from streamrouter.pipeline.admit import (
    Admission,
    Duplicate,
    Rekey,
    SourceRecord,
    Unsupported,
    admit,
    dead_letter,
)
from streamrouter.pipeline.answer import answer
from streamrouter.pipeline.classify import classify
from streamrouter.pipeline.context import PipelineContext
from streamrouter.results import error_result
from streamrouter.routing.validate import RequestLimits
from streamrouter.telemetry import tracing
from streamrouter.telemetry.metrics import Metrics
from streamrouter.topics import AppTopics

__all__ = ["Agents"]

log = logging.getLogger(__name__)

ADMITTED = "admitted"
DONE = "done"

Handler = Callable[[SourceRecord], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Agents:
    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        prices: PriceTable,
        topics: AppTopics,
        ledger: faust.Table,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._prices = prices
        self._topics = topics
        self._ledger = ledger
        self._metrics = metrics

    def register(self, app: faust.App) -> None:
        in_flight = self._settings.max_in_flight
        topics = self._topics
        app.agent(topics.requests, name="admit")(self._loop("admit", self.admit_one))
        app.agent(topics.classify, name="classify", concurrency=in_flight)(
            self._loop("classify", self.classify_one)
        )
        for tier, topic in topics.tiers.items():
            app.agent(topic, name=f"answer-{tier}", concurrency=in_flight)(
                self._loop(f"answer-{tier}", self.answer_one)
            )
        app.agent(topics.completions, name="finalize")(self._loop("finalize", self.finalize_one))
        app.task(self.declare_output_topics)

    async def declare_output_topics(self) -> None:
        """Topics no agent reads are not declared by Faust itself; declare them too."""
        for topic in (self._topics.results, self._topics.dlq):
            await topic.maybe_declare()

    async def close(self) -> None:
        if "_ctx" in self.__dict__:
            await self._ctx.gateway.close()

    @cached_property
    def _ctx(self) -> PipelineContext:
        """Built on first use, inside the worker: the SDK client needs the API settings."""
        settings = self._settings
        client = create_anthropic_client(
            timeout_s=settings.model_timeout_s, max_retries=settings.model_max_retries
        )
        return PipelineContext(
            policy=self._policy,
            limits=RequestLimits(settings.max_prompt_chars, settings.max_output_tokens),
            gateway=ModelGateway(client, self._prices),
            cooldowns=Cooldowns(settings.cooldown_failures, settings.cooldown_s),
        )

    def _loop(self, stage: str, handle: Handler) -> Callable[[faust.StreamT], Awaitable[None]]:
        """The agent body every stage shares: trace, count, handle, never crash."""

        async def agent(stream: faust.StreamT) -> None:
            events: AsyncIterator[EventT] = stream.events()
            async for event in events:
                record = _source_record(event)
                with (
                    tracing.consume_span(
                        record.topic, record.partition, record.offset, record.key, record.headers
                    ),
                    self._metrics.processing(stage),
                ):
                    try:
                        await handle(record)
                    except Exception as exc:
                        await self._on_stage_error(record, exc)

        agent.__name__ = agent.__qualname__ = stage.replace("-", "_")
        return agent

    # -- stages ---------------------------------------------------------------------

    async def admit_one(self, record: SourceRecord) -> None:
        admission = admit(
            record,
            seen=lambda rid: self._ledger.get(rid) is not None,
            policy=self._policy,
            limits=self._ctx.limits,
            now=utcnow(),
        )
        await self._send_admission(admission)

    async def classify_one(self, record: SourceRecord) -> None:
        work = decode(record.value, WorkItem)
        routed = await classify(work, self._ctx)
        _trace_route(routed)
        await self._send(self._topics.tiers[routed.tier or ""], routed)

    async def answer_one(self, record: SourceRecord) -> None:
        work = decode(record.value, WorkItem)
        if self._ledger.get(work.request.request_id) == DONE:
            return  # redelivered after it was finished: do not call a model again
        outcome = await answer(work, self._ctx, utcnow())
        if isinstance(outcome, WorkItem):
            last = outcome.attempts[-1]
            tracing.record_event(
                "escalation",
                {
                    "streamrouter.from_tier": last.tier,
                    "streamrouter.to_tier": outcome.tier or "",
                    "streamrouter.confidence": last.confidence or 0.0,
                },
            )
            await self._send(self._topics.tiers[outcome.tier or ""], outcome)
        else:
            await self._send(self._topics.completions, outcome)

    async def finalize_one(self, record: SourceRecord) -> None:
        result = decode(record.value, LLMResult)
        if self._ledger.get(result.request_id) == DONE:
            log.info("dropping a second result for %s", result.request_id)
            return
        result = result.model_copy(update={"trace_id": tracing.current_trace_id()})
        if result.status == "error" and result.error is not None:
            tracing.record_event("error_result", {"error.type": result.error.type}, error=True)
        self._metrics.observe_result(result)
        await self._send(self._topics.results, result)
        self._ledger[result.request_id] = DONE

    # -- sending --------------------------------------------------------------------

    async def _send_admission(self, admission: Admission) -> None:
        match admission:
            case DeadLetter():
                await self._dead_letter(admission)
            case Duplicate():
                log.info("duplicate request %s: already admitted", admission.request_id)
                tracing.record_event("duplicate", {"streamrouter.request_id": admission.request_id})
            case Rekey():
                rid = admission.request.request_id
                await self._publish(self._topics.requests, rid.encode(), encode(admission.request))
            case Unsupported():
                result = error_result(
                    admission.work,
                    error_type="unsupported_mode",
                    message=admission.reason,
                    now=utcnow(),
                )
                await self._send(self._topics.completions, result)
                self._ledger[result.request_id] = ADMITTED
            case WorkItem():
                _trace_route(admission)
                target = self._topics.tiers.get(admission.tier or "", self._topics.classify)
                await self._send(target, admission)
                self._ledger[admission.request.request_id] = ADMITTED

    async def _send(self, topic: faust.TopicT, event: WorkItem | LLMResult) -> None:
        request_id = event.request.request_id if isinstance(event, WorkItem) else event.request_id
        await self._publish(topic, request_id.encode(), encode(event))

    async def _publish(self, topic: faust.TopicT, key: bytes | None, value: bytes) -> None:
        with tracing.publish_span(topic.get_topic_name(), key) as headers:
            await topic.send(key=key, value=value, headers=headers)

    async def _dead_letter(self, dead: DeadLetter) -> None:
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
        self._metrics.observe_dead_letter(dead.error_type)
        await self._publish(self._topics.dlq, dead.key, encode(dead))

    async def _on_stage_error(self, record: SourceRecord, exc: Exception) -> None:
        """The one place that decides what a failed stage leaves behind."""
        log.exception("stage failed on %s[%d]@%d", record.topic, record.partition, record.offset)
        try:
            work = decode(record.value, WorkItem)
        except Exception:
            work = None
        if work is not None:
            result = error_result(
                work, error_type="internal_error", message=repr(exc), now=utcnow()
            )
            await self._send(self._topics.completions, result)
            return
        error_type = getattr(exc, "error_type", "internal_error")
        await self._dead_letter(dead_letter(record, error_type, repr(exc), utcnow()))


def _trace_route(work: WorkItem) -> None:
    if work.route is None:
        return
    route: Route = work.route
    tracing.route_span(
        {
            "streamrouter.route.strategy": route.strategy,
            "streamrouter.route.complexity": route.complexity or "",
            "streamrouter.route.reason": route.reason,
            "streamrouter.route.bypass": route.strategy == "bypass",
            "streamrouter.tier": work.tier or "",
        }
    )


def _source_record(event: EventT) -> SourceRecord:
    message = event.message
    return SourceRecord(
        key=event.key,
        value=event.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        headers=dict(event.headers or {}),
    )
