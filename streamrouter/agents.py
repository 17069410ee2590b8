"""The agents: short loops that decode, call a pipeline stage, and send what it returns.

Concurrency follows Faust's rules: the agents that write the ledger table (admit,
finalize) run one actor each and only do quick work; the agents that wait on model
calls (classify, one per tier) run ``max_in_flight`` actors and never write tables.

Error handling has one decision point, :meth:`Agents._on_stage_error`: an exception
inside a stage never kills an agent or skips a message silently. A work item that
decoded ends in an error result (every valid request gets one result); anything else
goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cached_property

import faust
from faust.types import EventT

from streamrouter.codec import decode, encode
from streamrouter.config import Policy, Settings
from streamrouter.events import DeadLetter, LLMResult, WorkItem
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
from streamrouter.topics import AppTopics

__all__ = ["Agents"]

log = logging.getLogger(__name__)

ADMITTED = "admitted"
DONE = "done"


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
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._prices = prices
        self._topics = topics
        self._ledger = ledger

    def register(self, app: faust.App) -> None:
        in_flight = self._settings.max_in_flight
        app.agent(self._topics.requests, name="admit")(self.admit_requests)
        app.agent(self._topics.classify, name="classify", concurrency=in_flight)(
            self.classify_requests
        )
        for tier, topic in self._topics.tiers.items():
            app.agent(topic, name=f"answer-{tier}", concurrency=in_flight)(self.answer_requests)
        app.agent(self._topics.completions, name="finalize")(self.finalize_results)
        app.task(self.declare_output_topics)

    async def declare_output_topics(self) -> None:
        """Topics no agent reads are not declared by Faust itself; declare them too."""
        for topic in (self._topics.results, self._topics.dlq):
            await topic.maybe_declare()

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

    # -- agents ---------------------------------------------------------------------

    async def admit_requests(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            record = _source_record(event)
            try:
                admission = admit(
                    record,
                    seen=lambda rid: self._ledger.get(rid) is not None,
                    policy=self._policy,
                    limits=self._ctx.limits,
                    now=utcnow(),
                )
                await self._send_admission(admission)
            except Exception as exc:
                await self._on_stage_error(record, exc)

    async def classify_requests(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            record = _source_record(event)
            try:
                work = decode(record.value, WorkItem)
                routed = await classify(work, self._ctx)
                await self._send(self._topics.tiers[routed.tier or ""], routed)
            except Exception as exc:
                await self._on_stage_error(record, exc)

    async def answer_requests(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            record = _source_record(event)
            try:
                work = decode(record.value, WorkItem)
                if self._ledger.get(work.request.request_id) == DONE:
                    continue  # redelivered after it was finished: do not call a model again
                outcome = await answer(work, self._ctx, utcnow())
                if isinstance(outcome, WorkItem):
                    await self._send(self._topics.tiers[outcome.tier or ""], outcome)
                else:
                    await self._send(self._topics.completions, outcome)
            except Exception as exc:
                await self._on_stage_error(record, exc)

    async def finalize_results(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            record = _source_record(event)
            try:
                result = decode(record.value, LLMResult)
                if self._ledger.get(result.request_id) == DONE:
                    log.info("dropping a second result for %s", result.request_id)
                    continue
                await self._send(self._topics.results, result)
                self._ledger[result.request_id] = DONE
            except Exception as exc:
                await self._on_stage_error(record, exc)

    # -- sending --------------------------------------------------------------------

    async def _send_admission(self, admission: Admission) -> None:
        match admission:
            case DeadLetter():
                log.warning(
                    "dead letter from %s[%d]@%d: %s: %s",
                    admission.topic,
                    admission.partition,
                    admission.offset,
                    admission.error_type,
                    admission.error_message,
                )
                await self._topics.dlq.send(key=admission.key, value=encode(admission))
            case Duplicate():
                log.info("duplicate request %s: already admitted", admission.request_id)
            case Rekey():
                rid = admission.request.request_id
                await self._topics.requests.send(key=rid.encode(), value=encode(admission.request))
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
                target = self._topics.tiers.get(admission.tier or "", self._topics.classify)
                await self._send(target, admission)
                self._ledger[admission.request.request_id] = ADMITTED

    async def _send(self, topic: faust.TopicT, event: WorkItem | LLMResult) -> None:
        request_id = event.request.request_id if isinstance(event, WorkItem) else event.request_id
        await topic.send(key=request_id.encode(), value=encode(event))

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
        dead = dead_letter(record, error_type, repr(exc), utcnow())
        await self._topics.dlq.send(key=record.key, value=encode(dead))


def _source_record(event: EventT) -> SourceRecord:
    message = event.message
    return SourceRecord(
        key=event.key,
        value=event.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )
