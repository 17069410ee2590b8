"""Fan-in of an orchestrated request: collect subtask results until all are in (or the
deadline passes), then hand the parent to the synthesizer.

Pure: the state lives in a durable table keyed by the parent's request id (so a
restart between fan-out and fan-in loses nothing); these functions take the state and
one event, and return the new state and, once, the work item for synthesis.

The state and the synthesis item carry the parent's request and every subtask answer,
and both must fit one Kafka record: each answer is kept to an equal share of what the
event size limit leaves beside the parent (``answer_share``), cut with a note, and a
subtask's content blocks are not kept (the synthesizer reads its answer). Sizes are
measured as the table's changelog holds the state: its JSON, inside a JSON string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from streamrouter.events import LLMResult, SubtaskResult, WorkItem

__all__ = [
    "FanInState",
    "FanInStep",
    "answer_share",
    "on_plan",
    "on_result",
    "on_tick",
    "stored_bytes",
    "subtask_id_of",
]

# The least each subtask answer keeps, however large the parent.
MIN_ANSWER_BYTES = 1_000


class FanInState(BaseModel):
    """One parent's fan-in, as kept in the table (JSON)."""

    parent: WorkItem | None = None
    results: dict[str, LLMResult] = Field(default_factory=dict)
    deadline: datetime | None = None
    done: bool = False
    # The parent's W3C traceparent, so a deadline tick continues its trace.
    traceparent: str | None = None
    # UTF-8 bytes each subtask answer may keep (None: no limit).
    answer_bytes: int | None = None

    def finished_marker(self) -> FanInState:
        """What to keep once synthesis has started: enough to ignore late events."""
        return FanInState(done=True)

    def finished(self, subtask_id: str) -> bool:
        return self.done or subtask_id in self.results


@dataclass(frozen=True)
class FanInStep:
    state: FanInState
    ready: WorkItem | None = None  # the parent, ready for synthesis


def subtask_id_of(result: LLMResult) -> str:
    """Subtask request ids are ``<parent id>/<subtask id>``."""
    return result.request_id.rsplit("/", 1)[-1]


def answer_share(parent: WorkItem, max_event_bytes: int) -> int:
    """The stored bytes (``stored_bytes``) each subtask answer may take so that the
    parent and all answers fit ``max_event_bytes``."""
    room = max_event_bytes - stored_bytes(parent.model_dump_json())
    return max(MIN_ANSWER_BYTES, room // max(1, len(parent.plan)))


def stored_bytes(text: str) -> int:
    """What ``text`` takes in the changelog: JSON inside a JSON string, UTF-8 (more than
    the work item's Avro, or the state's own JSON, ever takes)."""
    return len(json.dumps(json.dumps(text, ensure_ascii=False), ensure_ascii=False).encode())


def on_plan(
    state: FanInState | None,
    parent: WorkItem,
    now: datetime,
    deadline_s: float,
    traceparent: str | None = None,
    *,
    max_event_bytes: int | None = None,
) -> FanInStep:
    state = state or FanInState()
    if state.parent is not None or state.done:
        return FanInStep(state)  # a re-delivered plan: the first one stands
    deadline = now + timedelta(seconds=deadline_s)
    share = None if max_event_bytes is None else answer_share(parent, max_event_bytes)
    results = {sid: _kept(r, share) for sid, r in state.results.items()}
    state = state.model_copy(
        update={
            "parent": parent,
            "deadline": deadline,
            "traceparent": traceparent,
            "answer_bytes": share,
            "results": results,
        }
    )
    return _ready_if_complete(state, now, deadline_passed=False)


def on_result(state: FanInState | None, result: LLMResult, now: datetime) -> FanInStep:
    state = state or FanInState()
    subtask_id = subtask_id_of(result)
    if state.finished(subtask_id):
        return FanInStep(state)  # a duplicate, or late after the deadline
    kept = _kept(result, state.answer_bytes)
    state = state.model_copy(update={"results": {**state.results, subtask_id: kept}})
    return _ready_if_complete(state, now, deadline_passed=False)


def _kept(result: LLMResult, max_bytes: int | None) -> LLMResult:
    """The result as the fan-in keeps it: no content blocks, the answer within
    ``max_bytes`` stored bytes."""
    answer = result.answer or ""
    size = stored_bytes(answer)
    if max_bytes is None or size <= max_bytes:
        return result.model_copy(update={"content": []})
    note = f" [answer cut to fit one event: {len(answer)} characters before]"
    raw = answer.encode()
    keep = max(0, (max_bytes - stored_bytes(note)) * len(raw) // size)
    cut = raw[:keep].decode(errors="ignore") + note
    while stored_bytes(cut) > max_bytes and len(cut) > len(note):  # escapes are uneven
        cut = cut[: -len(note) - max(1, (len(cut) - len(note)) // 10)] + note
    return result.model_copy(update={"answer": cut, "content": []})


def on_tick(state: FanInState | None, now: datetime) -> FanInStep:
    if state is None or state.deadline is None or now < state.deadline:
        return FanInStep(state or FanInState())
    return _ready_if_complete(state, now, deadline_passed=True)


def _ready_if_complete(state: FanInState, now: datetime, deadline_passed: bool) -> FanInStep:
    parent = state.parent
    if state.done or parent is None:
        return FanInStep(state)
    missing = [s.subtask_id for s in parent.plan if s.subtask_id not in state.results]
    if missing and not deadline_passed:
        return FanInStep(state)
    attempts = list(parent.attempts)
    outcomes = []
    for subtask in parent.plan:
        result = state.results.get(subtask.subtask_id)
        if result is None:
            outcomes.append(
                SubtaskResult(
                    subtask_id=subtask.subtask_id, prompt=subtask.prompt, status="missing"
                )
            )
            continue
        attempts += [
            a.model_copy(update={"subtask_id": subtask.subtask_id}) for a in result.attempts
        ]
        outcomes.append(
            SubtaskResult(
                subtask_id=subtask.subtask_id,
                prompt=subtask.prompt,
                status=result.status,
                answer=result.answer,
                tier=result.tier,
                model=result.model,
            )
        )
    note = parent.plan_note
    if missing:
        note = "; ".join(filter(None, [note, f"deadline passed; missing subtasks {missing}"]))
    ready = parent.model_copy(
        update={"attempts": attempts, "subtask_results": outcomes, "plan_note": note}
    )
    return FanInStep(state.model_copy(update={"done": True}), ready)
