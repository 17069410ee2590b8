"""The routing agents: admit, budget, classify, answer (one per tier), finalize."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import faust

from streamrouter.admin import (
    TopicAdmin,
    create_topics,
    faust_topics,
    load_topic_settings,
    plan_topics,
)
from streamrouter.agents.base import AgentGroup, Runtime, log, record_source, utcnow
from streamrouter.agents.expiry import (
    UNKNOWN,
    LedgerExpiry,
    admitted_entry,
    done_entry,
    finished_at,
    own_admission,
    seen_before,
)
from streamrouter.agents.handover import CLOCK_SKEW_MS
from streamrouter.codec import decode, encode
from streamrouter.errors import ConfigError
from streamrouter.events import DeadLetter, LLMResult, WorkItem
from streamrouter.pipeline.admit import Duplicate, Rekey, SourceRecord, admit
from streamrouter.pipeline.answer import answer
from streamrouter.pipeline.classify import bypass, classify
from streamrouter.pipeline.fanin import FanInState
from streamrouter.pipeline.route import Refused, route_request
from streamrouter.results import error_result
from streamrouter.routing.budget import Spend, spend_key
from streamrouter.routing.classifier import tier_for_complexity
from streamrouter.telemetry import tracing
from streamrouter.topics import default_partition

__all__ = ["RoutingAgents"]


class RoutingAgents(AgentGroup):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.expiry = LedgerExpiry(runtime.settings.ledger_ttl_s)
        self._taken_over: set[int] = set()  # completions partitions, this assignment
        # Request ids whose result this assignment published or found (until they expire).
        self._results_out: set[str] = set()
        # Classifier calls under way, and the condition their verdicts signal (bypass).
        self._classifying = 0
        self._verdicts = asyncio.Condition()

    def register(self, app: faust.App) -> None:
        in_flight = self.rt.settings.max_in_flight
        topics = self.topics

        @app.on_partitions_assigned.connect
        async def on_assigned(app: faust.App, *args: object, **kwargs: object) -> None:
            self._taken_over.clear()
            self._results_out.clear()

        app.agent(topics.requests, name="admit")(self.loop("admit", self.admit_one))
        app.agent(topics.budget, name="budget")(
            self.loop("budget", self.budget_one, forwards_one=True)
        )
        app.agent(topics.classify, name="classify", concurrency=in_flight)(
            self.loop("classify", self.classify_one, forwards_one=True)
        )
        for tier, topic in topics.tiers.items():
            app.agent(topic, name=f"answer-{tier}", concurrency=in_flight)(
                self.loop(f"answer-{tier}", self.answer_one, forwards_one=True)
            )
        app.agent(topics.completions, name="finalize")(self.loop("finalize", self.finalize_one))
        app.task(self.prepare_topics)
        app.timer(self.rt.settings.topic_check_s)(self._restore_topics(app))

    async def prepare_topics(self) -> None:
        """Declare the topics no agent reads (Faust declares only the ones it reads), and
        refuse to run on a requests topic with another partition count than the ledger's
        (every ledger write would fail): one created after the worker adopted the
        broker's count at its start (``partitions.py``). Raising here stops the worker."""
        for topic in (self.topics.results, self.topics.dlq, self.topics.feedback):
            await topic.maybe_declare()
        settings = self.rt.settings
        name = settings.topics.requests
        async with TopicAdmin(settings.broker) as admin:
            state = (await admin.describe([name])).get(name)
        if state is not None and state.partitions != settings.partitions:
            raise ConfigError(
                f"topic {name} has {state.partitions} partitions but this worker runs "
                f"with {settings.partitions} (the topic was created after it started); "
                "`streamrouter topics check` shows which topics differ"
            )

    def _restore_topics(self, app: faust.App) -> Callable[[], Awaitable[None]]:
        async def restore_missing_topics() -> None:
            """Recreate any of our topics the broker lost (a restarted broker with memory
            storage, a topic deleted by hand), so the worker serves again."""
            settings = self.rt.settings
            topic_settings = load_topic_settings()
            specs = plan_topics(
                settings,
                self.rt.policy,
                topic_settings,
                faust_topics(app, topic_settings.replication_factor),
            )
            async with TopicAdmin(settings.broker) as admin:
                reports = await create_topics(admin, specs, settle_s=0)
            created = [r.spec.name for r in reports if r.created]
            if created:
                log.warning("recreated missing topics: %s", ", ".join(created))

        return restore_missing_topics

    async def admit_one(self, record: SourceRecord) -> None:
        ledger = self.tables.ledger
        partitions = self.rt.settings.partitions
        admission = admit(
            record,
            seen=lambda rid: seen_before(ledger.get(rid), record.offset),
            partition_of=lambda rid: default_partition(rid.encode(), partitions),
            policy=self.rt.policy,
            limits=self.rt.ctx.limits,
            now=utcnow(),
        )
        match admission:
            case DeadLetter():
                await self.dead_letter(admission)
            case Duplicate():
                log.info("duplicate request %s: already admitted", admission.request_id)
                tracing.record_event("duplicate", {"streamrouter.request_id": admission.request_id})
            case Rekey():
                rid = admission.request.request_id
                await self.publish(self.topics.requests, rid.encode(), encode(admission.request))
            case WorkItem():
                rid = admission.request.request_id
                if await self._sent_before(record, rid):
                    log.info("duplicate request %s: delivered again", rid)
                    return
                if self.rt.policy.budgets.for_tenant(admission.request.tenant) is None:
                    await self.route(admission, spent=0.0)
                else:  # the tenant's spend lives on the tenant's partition
                    await self.send(self.topics.budget, admission, admission.request.tenant)
                ledger[rid] = admitted_entry(record.offset, time.time())

    async def _sent_before(self, record: SourceRecord, request_id: str) -> bool:
        """Whether this very record was admitted before and its work is on its topic. The
        ledger says when it was admitted, by the worker's clock: the record's own
        timestamp is the producer's, a user's clock, and cannot date the read."""
        admitted_at = own_admission(self.tables.ledger.get(request_id), record.offset)
        if admitted_at is None:
            return False
        return await self.rt.handover.processed(record_source(record), admitted_at)

    async def budget_one(self, record: SourceRecord) -> None:
        work = decode(record.value, WorkItem)
        tenant = work.request.tenant
        budget = self.rt.policy.budgets.for_tenant(tenant)
        spent = 0.0
        if budget is not None:
            key = spend_key(tenant, budget.period, utcnow())
            spent = Spend.stored(self.tables.spend.get(key)).usd
        await self.route(work, spent=spent)

    async def route(self, work: WorkItem, spent: float) -> None:
        routed = route_request(work, self.rt.policy, spent=spent, learned=self.rt.learned)
        if isinstance(routed, Refused):
            result = error_result(
                routed.work, error_type="budget_exceeded", message=routed.reason, now=utcnow()
            )
            await self.finish(routed.work, result)
            return
        trace_route(routed, self.rt.policy_version)
        await self.send_work(routed)

    async def classify_one(self, record: SourceRecord) -> None:
        work = decode(record.value, WorkItem)
        if await self.finished(record, work.request.request_id):
            return  # redelivered after it was finished: do not call a model again
        window = self.rt.bypass
        async with self._verdicts:
            await self._verdicts.wait_for(lambda: not window.filling(self._classifying))
            bypass_to = window.bypass_tier()
            self._classifying += bypass_to is None
        self.rt.metrics.observe_bypass(window.state())
        if bypass_to is not None:
            routed = bypass(work, bypass_to, self.rt.policy.tier_names)
        else:
            routed = await self._classify_and_record(work)
        trace_route(routed, self.rt.policy_version)
        await self.send_work(routed)

    async def _classify_and_record(self, work: WorkItem) -> WorkItem:
        routed = None
        try:
            routed = await classify(work, self.rt.ctx)
            return routed
        finally:
            async with self._verdicts:
                self._classifying -= 1
                if routed is not None and routed.route and routed.route.complexity:
                    # The classifier's own verdict, before any budget cap.
                    tiers = self.rt.policy.tier_names
                    self.rt.bypass.record(tier_for_complexity(routed.route.complexity, tiers))
                self._verdicts.notify_all()

    async def answer_one(self, record: SourceRecord) -> None:
        work = decode(record.value, WorkItem)
        if await self._work_finished(record, work):
            return  # redelivered after it was finished: do not call a model again
        outcome = await answer(work, self.rt.ctx, utcnow)
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
            await self.send_work(outcome)
        else:
            await self.finish(work, outcome)

    async def _work_finished(self, record: SourceRecord, work: WorkItem) -> bool:
        if work.parent_id is None:
            return await self.finished(record, work.request.request_id)
        raw = self.tables.fanin.get(work.parent_id)
        state = FanInState.model_validate_json(raw) if raw else None
        return state is not None and state.finished(work.subtask_id or "")

    async def finalize_one(self, record: SourceRecord) -> None:
        if record.partition not in self._taken_over:
            self.take_over(record.partition)
        result = decode(record.value, LLMResult)
        if await self._result_out(result.request_id, record):
            log.info("dropping a second result for %s", result.request_id)
            if finished_at(self.tables.ledger.get(result.request_id)) is None:
                self.mark_done(result.request_id, record.partition)  # the previous owner's
        else:
            # A done mark without its result: its spend may have landed, and booking it
            # twice would refuse the tenant's requests early.
            marked = finished_at(self.tables.ledger.get(result.request_id)) is not None
            await self.finalize(result, record.partition, book_spend=not marked)
        ledger = self.tables.ledger
        for request_id in self.expiry.due(record.partition, time.time()):
            ledger.pop(request_id, None)
            self._results_out.discard(request_id)

    async def _result_out(self, request_id: str, record: SourceRecord) -> bool:
        """Whether the request's result is on the results topic. The ledger's done mark
        is written after the result is sent, but on a cluster the two can have different
        leaders: a mark recovered from the partition's previous owner may have outlived
        its result, and this completion, delivered again, is then the only way to it.
        So what this assignment published or found counts as out, and so does a mark
        older than this completion (another one's result: a bare ``done`` is of unknown
        age); otherwise the results topic is asked."""
        if request_id in self._results_out:
            return True
        done_at = finished_at(self.tables.ledger.get(request_id))
        if done_at is None:
            return await self.rt.handover.finished(request_id, record.timestamp)
        if done_at < record.timestamp - CLOCK_SKEW_MS / 1000:
            return True
        # The result was sent just before its mark: read from the earlier of the two.
        return await self.rt.handover.finished(request_id, min(done_at, record.timestamp))

    def take_over(self, partition: int) -> None:
        """The first completion of a partition since the assignment: from now on, forget
        what the ledger recovered for it once its TTL has passed."""
        partitions = self.rt.settings.partitions
        recovered = [
            (finished_at(value) or UNKNOWN, rid)  # still admitted: a whole TTL
            for rid, value in list(self.tables.ledger.items())
            if default_partition(rid.encode(), partitions) == partition
        ]
        self.expiry.restart(partition, recovered, time.time())
        self._taken_over.add(partition)

    async def finalize(self, result: LLMResult, partition: int, book_spend: bool = True) -> None:
        result = result.model_copy(update={"trace_id": tracing.current_trace_id()})
        if result.status == "error" and result.error is not None:
            tracing.record_event("error_result", {"error.type": result.error.type}, error=True)
        self.rt.metrics.observe_result(result)
        await self.send(self.topics.results, result, result.request_id)
        if (
            book_spend
            and result.total_cost_usd
            and self.rt.policy.budgets.for_tenant(result.tenant)
        ):
            await self.send(self.topics.spend, result, result.tenant)
        self.mark_done(result.request_id, partition)

    def mark_done(self, request_id: str, partition: int) -> None:
        """After the request's result was sent (or found on the results topic)."""
        now = time.time()
        self.tables.ledger[request_id] = done_entry(now)
        self._results_out.add(request_id)
        self.expiry.track(partition, request_id, now)


def trace_route(work: WorkItem, policy_version: str) -> None:
    if work.route is None:
        return
    route = work.route
    tracing.route_span(
        {
            "streamrouter.route.strategy": route.strategy,
            "streamrouter.route.complexity": route.complexity or "",
            "streamrouter.route.reason": route.reason,
            "streamrouter.route.bypass": route.strategy == "bypass",
            "streamrouter.tier": work.tier or "",
            "streamrouter.max_tier": work.max_tier or "",
            "streamrouter.policy.version": policy_version,
        }
    )
