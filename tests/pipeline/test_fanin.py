from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamrouter.events import Attempt, LLMRequest, LLMResult, Subtask, WorkItem
from streamrouter.pipeline.fanin import (
    FanInState,
    answer_share,
    on_plan,
    on_result,
    on_tick,
    stored_bytes,
)

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
PARENT = WorkItem(
    request=LLMRequest(request_id="p"),
    received_at=NOW,
    attempts=[Attempt(tier="opus", model="o", outcome="planned", cost_usd=0.01)],
    plan=[Subtask(subtask_id=f"s{i}", prompt=f"part {i}", tier="haiku") for i in (1, 2)],
)


def result(subtask: str, cost: float = 0.001, status: str = "ok") -> LLMResult:
    return LLMResult(
        request_id=f"p/{subtask}",
        tenant="t",
        status=status,  # type: ignore[arg-type]
        answer=f"answer {subtask}",
        tier="haiku",
        model="h",
        attempts=[Attempt(tier="haiku", model="h", outcome="answered", cost_usd=cost)],
        completed_at=NOW,
    )


def test_ready_once_every_subtask_is_in_with_attempts_rolled_up() -> None:
    step = on_plan(None, PARENT, NOW, 60)
    assert step.ready is None
    step = on_result(step.state, result("s2", 0.002), NOW)
    assert step.ready is None
    step = on_result(step.state, result("s1", 0.003), NOW)

    ready = step.ready
    assert ready is not None and step.state.done
    assert [(a.outcome, a.subtask_id) for a in ready.attempts] == [
        ("planned", None),
        ("answered", "s1"),
        ("answered", "s2"),
    ]
    assert ready.total_cost_usd == 0.01 + 0.003 + 0.002
    assert [(r.subtask_id, r.status, r.answer) for r in ready.subtask_results] == [
        ("s1", "ok", "answer s1"),
        ("s2", "ok", "answer s2"),
    ]


def test_duplicates_and_late_results_change_nothing() -> None:
    state = on_result(on_plan(None, PARENT, NOW, 60).state, result("s1"), NOW).state
    again = on_result(state, result("s1", cost=9.0), NOW)
    assert again.ready is None and again.state == state
    done = on_result(state, result("s2"), NOW).state
    late = on_result(done, result("s1", cost=9.0), NOW)
    assert late.ready is None and late.state == done


def test_results_before_the_plan_are_kept() -> None:
    state = on_result(None, result("s1"), NOW).state
    state = on_result(state, result("s2"), NOW).state
    step = on_plan(state, PARENT, NOW, 60)
    assert step.ready is not None


def test_a_second_plan_does_not_replace_the_first() -> None:
    state = on_plan(None, PARENT, NOW, 60).state
    other = PARENT.model_copy(update={"plan": []})
    assert on_plan(state, other, NOW, 60).state == state


def test_deadline_synthesizes_with_the_missing_named() -> None:
    state = on_result(on_plan(None, PARENT, NOW, 60).state, result("s1"), NOW).state
    assert on_tick(state, NOW + timedelta(seconds=59)).ready is None

    step = on_tick(state, NOW + timedelta(seconds=60))

    assert step.ready is not None
    assert [r.status for r in step.ready.subtask_results] == ["ok", "missing"]
    assert "missing subtasks ['s2']" in step.ready.plan_note
    assert on_tick(step.state, NOW + timedelta(hours=1)).ready is None


def test_state_survives_its_json_form() -> None:
    state = on_result(on_plan(None, PARENT, NOW, 60).state, result("s1"), NOW).state
    assert FanInState.model_validate_json(state.model_dump_json()) == state
    assert state.finished("s1") and not state.finished("s2")


def test_a_plan_after_synthesis_started_is_ignored() -> None:
    state = on_result(on_plan(None, PARENT, NOW, 60).state, result("s1"), NOW).state
    done = on_result(state, result("s2"), NOW).state.finished_marker()
    again = on_plan(done, PARENT, NOW, 60)
    assert again.ready is None and again.state == done
    assert done.finished("s1") and done.parent is None  # small: no prompts or answers


def test_the_plan_keeps_the_parents_traceparent() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert on_plan(None, PARENT, NOW, 60, tp).state.traceparent == tp


def test_answers_are_cut_so_the_parent_and_every_answer_fit_one_event() -> None:
    big = PARENT.model_copy(update={"request": LLMRequest(request_id="p", system="x" * 150_000)})
    limit = 200_000
    share = answer_share(big, limit)
    assert 20_000 < share < 25_000  # (200 kB - the 150 kB parent) / 2 subtasks
    # Code: quotes and newlines, which the changelog's JSON-in-a-string escapes twice.
    code = 'print("é")\n' * 20_000
    long = result("s1").model_copy(
        update={"answer": code, "content": [{"type": "text", "text": code}]}
    )
    state = on_plan(None, big, NOW, 60, max_event_bytes=limit).state
    state = on_result(state, long, NOW).state
    assert stored_bytes(state.model_dump_json()) <= limit  # the table's changelog record
    step = on_result(state, result("s2"), NOW)
    ready = step.ready
    assert ready is not None
    assert len(ready.model_dump_json().encode()) <= limit
    (first, second) = ready.subtask_results
    assert first.answer is not None and first.answer.endswith("characters before]")
    assert stored_bytes(first.answer) <= share
    assert second.answer == "answer s2"  # short answers are kept whole
    assert state.results["s1"].content == []  # the synthesizer reads the answer


def test_a_result_before_its_plan_is_cut_when_the_plan_comes() -> None:
    long = result("s1").model_copy(update={"answer": "y" * 50_000})
    state = on_result(None, long, NOW).state
    state = on_plan(state, PARENT, NOW, 60, max_event_bytes=10_000).state
    assert stored_bytes(state.results["s1"].answer or "") <= answer_share(PARENT, 10_000)
