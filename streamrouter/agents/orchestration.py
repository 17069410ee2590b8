"""Orchestrator-workers: plan, fan out, fan in (durably), synthesize.

Every event of an orchestrated request is keyed by the parent's request id, so the
planner's output, each subtask (on the tier topics), the fan-in state and the
synthesis all live on the parent's partition: the fan-in table is local wherever a
subtask is answered, which lets a restarted worker skip subtasks already finished.
Once the parent's result is out (the ledger, on the same partition, says so) its fan-in
entry is deleted, so the table holds only the fan-ins under way.
"""

from __future__ import annotations

from datetime import datetime

import faust

from streamrouter.agents.base import AgentGroup, utcnow
from streamrouter.agents.expiry import finished_at
from streamrouter.codec import decode
from streamrouter.events import FanInEvent, LLMResult, WorkItem
from streamrouter.pipeline.admit import SourceRecord
from streamrouter.pipeline.fanin import FanInState, FanInStep, on_plan, on_result, on_tick
from streamrouter.pipeline.orchestrate import plan, subtask_items, synthesize
from streamrouter.telemetry import tracing

__all__ = ["OrchestrationAgents"]

DEADLINE_CHECK_S = 5.0


class OrchestrationAgents(AgentGroup):
    def register(self, app: faust.App) -> None:
        in_flight = self.rt.settings.max_in_flight
        topics = self.topics
        app.agent(topics.plan, name="plan", concurrency=in_flight)(self.loop("plan", self.plan_one))
        app.agent(topics.fanin, name="fanin")(self.loop("fanin", self.fanin_one))
        app.agent(topics.synthesize, name="synthesize", concurrency=in_flight)(
            self.loop("synthesize", self.synthesize_one, forwards_one=True)
        )
        app.timer(DEADLINE_CHECK_S)(self.tick_overdue)

    async def plan_one(self, record: SourceRecord) -> None:
        work = decode(record.value, WorkItem)
        parent_id = work.request.request_id
        if await self.finished(record, parent_id):
            return
        stored = self._state(parent_id)
        if stored is not None and stored.parent is not None:
            # Redelivered after its plan reached the fan-in: no second planner call;
            # re-send what is not finished (tier agents skip what is).
            await self._fan_out(stored.parent, skip=stored)
            return
        parent = await plan(work, self.rt.ctx, utcnow)
        if isinstance(parent, LLMResult):
            await self.finish(work, parent)
            return
        tracing.record_event(
            "fan_out",
            {"streamrouter.subtasks": len(parent.plan), "streamrouter.plan_note": parent.plan_note},
        )
        # The plan reaches the fan-in before any subtask can: same partition, sent first.
        await self.send(self.topics.fanin, FanInEvent(plan=parent), parent_id)
        await self._fan_out(parent)

    async def _fan_out(self, parent: WorkItem, skip: FanInState | None = None) -> None:
        for subtask in subtask_items(parent, utcnow()):
            if skip is None or not skip.finished(subtask.subtask_id or ""):
                await self.send_work(subtask)

    async def fanin_one(self, record: SourceRecord) -> None:
        event = decode(record.value, FanInEvent)
        parent_id = (record.key or b"").decode()
        if self._parent_finished(parent_id):
            # Its result is out: a late event changes nothing, and the entry can go.
            self.tables.fanin.pop(parent_id, None)
            return
        state = self._state(parent_id)
        now = utcnow()
        deadline_s = self.rt.policy.orchestrator.deadline_s
        if event.plan is not None:
            step = on_plan(
                state,
                event.plan,
                now,
                deadline_s,
                tracing.current_traceparent(),
                max_event_bytes=self.rt.settings.max_event_bytes,
            )
        elif event.result is not None:
            step = on_result(state, event.result, now)
        else:
            step = on_tick(state, now)
        await self._advance(parent_id, step)

    async def _advance(self, parent_id: str, step: FanInStep) -> None:
        state = step.state
        if step.ready is not None:
            await self.send(self.topics.synthesize, step.ready, parent_id)
            state = state.finished_marker()  # the synthesizer has all it needs
        self.tables.fanin[parent_id] = state.model_dump_json()

    async def synthesize_one(self, record: SourceRecord) -> None:
        parent = decode(record.value, WorkItem)
        if await self.finished(record, parent.request.request_id):
            return
        result = await synthesize(parent, self.rt.ctx, utcnow)
        await self.finish(parent, result)

    async def tick_overdue(self) -> None:
        """Timers may not write tables: ask the fan-in agent to look at the parents past
        their deadline, and at those finished (so that it forgets them)."""
        now = utcnow()
        for parent_id, traceparent in self._due_a_tick(now):
            with tracing.within(traceparent):
                await self.send(self.topics.fanin, FanInEvent(tick=True), parent_id)

    def _due_a_tick(self, now: datetime) -> list[tuple[str, str | None]]:
        due = []
        for parent_id, raw in list(self.tables.fanin.items()):
            state = FanInState.model_validate_json(raw)
            if state.done:
                if self._parent_finished(parent_id):
                    due.append((parent_id, None))
            elif state.deadline is not None and state.deadline <= now:
                due.append((parent_id, state.traceparent))
        return due

    def _parent_finished(self, parent_id: str) -> bool:
        return finished_at(self.tables.ledger.get(parent_id)) is not None

    def _state(self, parent_id: str) -> FanInState | None:
        raw = self.tables.fanin.get(parent_id)
        return FanInState.model_validate_json(raw) if raw else None
