from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamrouter.errors import (
    ModelCallError,
    ModelFailedError,
    OverloadedError,
    RateLimitedError,
)
from streamrouter.events import Attempt, ErrorInfo, LLMRequest, Message, Route, WorkItem
from streamrouter.llm.client import ModelReply
from streamrouter.llm.fallback import FailedCall
from streamrouter.llm.pricing import TokenUsage
from streamrouter.result_blocks import ResultTextBlock, ResultThinkingBlock, ResultToolUseBlock
from streamrouter.results import (
    attempt_for_reply,
    attempts_for_failures,
    error_result,
    ok_result,
)

RECEIVED = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
ROUTE = Route(strategy="task_map", reason="task_type summarize maps to haiku")


def attempt(outcome: str, cost: float = 0.0, tier: str = "haiku") -> Attempt:
    return Attempt(tier=tier, model=f"claude-{tier}", outcome=outcome, cost_usd=cost)


def work(attempts: list[Attempt], route: Route | None = ROUTE) -> WorkItem:
    return WorkItem(
        request=LLMRequest(
            request_id="req-1",
            tenant="acme",
            messages=[Message(role="user", content="hi")],
        ),
        route=route,
        tier="haiku",
        attempts=attempts,
        received_at=RECEIVED,
    )


def ok(item: WorkItem, now: datetime, fallback_used: bool = False):  # type: ignore[no-untyped-def]
    return ok_result(
        item,
        tier="sonnet",
        model="claude-sonnet-4-6",
        answer="42",
        confidence=0.91,
        fallback_used=fallback_used,
        now=now,
    )


def error(item: WorkItem, now: datetime):  # type: ignore[no-untyped-def]
    return error_result(item, error_type="models_exhausted", message="nothing left", now=now)


BUILDERS = [pytest.param(ok, id="ok"), pytest.param(error, id="error")]


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    ("outcomes", "escalated"),
    [
        ([], False),
        (["classified"], False),
        (["classified", "answered"], False),
        (["rate_limited", "overloaded", "failed", "answered"], False),
        (["escalated"], True),
        (["classified", "escalated", "answered"], True),
        (["escalated", "escalated", "answered"], True),
        (["planned", "synthesized"], False),
    ],
)
def test_escalated_flag_comes_from_attempts(
    build: object, outcomes: list[str], escalated: bool
) -> None:
    result = build(work([attempt(o) for o in outcomes]), RECEIVED)  # type: ignore[operator]
    assert result.escalated is escalated
    assert [a.outcome for a in result.attempts] == outcomes


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    ("costs", "total"),
    [
        ([], 0.0),
        ([0.0], 0.0),
        ([0.001], 0.001),
        ([0.001, 0.002, 0.0004], 0.0034),
        ([0.25, 0.0, 1.5], 1.75),
    ],
)
def test_total_cost_is_the_sum_of_attempts(build: object, costs: list[float], total: float) -> None:
    result = build(work([attempt("answered", c) for c in costs]), RECEIVED)  # type: ignore[operator]
    assert result.total_cost_usd == pytest.approx(total)


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    ("elapsed", "latency_ms"),
    [
        (timedelta(0), 0.0),
        (timedelta(milliseconds=1), 1.0),
        (timedelta(milliseconds=1234), 1234.0),
        (timedelta(minutes=2, milliseconds=5), 120_005.0),
        (timedelta(hours=25), 90_000_000.0),
    ],
)
def test_total_latency_runs_from_received_to_now(
    build: object, elapsed: timedelta, latency_ms: float
) -> None:
    now = RECEIVED + elapsed
    result = build(work([]), now)  # type: ignore[operator]
    assert result.total_latency_ms == pytest.approx(latency_ms)
    assert result.completed_at == now


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    "route",
    [
        None,
        ROUTE,
        Route(strategy="pinned", reason="tier opus pinned"),
        Route(strategy="classifier", complexity="hard", reason="classified hard (0.90): x"),
    ],
)
def test_identity_and_route_are_carried_over(build: object, route: Route | None) -> None:
    result = build(work([], route=route), RECEIVED)  # type: ignore[operator]
    assert result.request_id == "req-1"
    assert result.tenant == "acme"
    assert result.route == route


def test_ok_result_fields() -> None:
    attempts = [attempt("escalated", 0.01), attempt("answered", 0.02, tier="sonnet")]
    result = ok(work(attempts), RECEIVED + timedelta(seconds=2), fallback_used=True)
    assert result.status == "ok"
    assert result.answer == "42"
    assert result.tier == "sonnet"
    assert result.model == "claude-sonnet-4-6"
    assert result.confidence == 0.91
    assert result.fallback_used is True
    assert result.escalated is True
    assert result.error is None
    assert result.attempts == attempts


@pytest.mark.parametrize("fallback_used", [False, True])
def test_ok_result_fallback_flag_is_passed_through(fallback_used: bool) -> None:
    assert ok(work([]), RECEIVED, fallback_used=fallback_used).fallback_used is fallback_used


def test_error_result_fields() -> None:
    result = error(work([attempt("failed")]), RECEIVED)
    assert result.status == "error"
    assert result.error == ErrorInfo(type="models_exhausted", message="nothing left")
    assert result.answer is None
    assert result.tier is None
    assert result.model is None
    assert result.confidence is None


def test_results_have_no_content_unless_given() -> None:
    for result in (ok(work([]), RECEIVED), error(work([]), RECEIVED)):
        assert (result.content, result.stop_reason, result.stop_sequence) == ([], None, None)


def test_ok_result_carries_the_models_blocks_and_stop_reason() -> None:
    content = [  # as ModelReply.content holds them: the SDK blocks' model_dump()
        {"type": "thinking", "thinking": "hm", "signature": "sig"},
        {"type": "text", "text": "Checking.", "citations": None},
        {"type": "tool_use", "id": "tu_1", "name": "f", "input": {"x": 1}, "caller": None},
    ]
    result = ok_result(
        work([]),
        tier="sonnet",
        model="claude-sonnet-4-6",
        answer="Checking.",
        confidence=0.9,
        fallback_used=False,
        now=RECEIVED,
        content=content,
        stop_reason="tool_use",
    )
    assert result.content == [
        ResultThinkingBlock(type="thinking", thinking="hm", signature="sig"),
        ResultTextBlock(type="text", text="Checking."),
        ResultToolUseBlock(type="tool_use", id="tu_1", name="f", input={"x": 1}),
    ]
    assert (result.stop_reason, result.stop_sequence) == ("tool_use", None)


def test_error_result_may_keep_the_last_reply() -> None:
    result = error_result(
        work([attempt("answered")]),
        error_type="incomplete_answer",
        message="cut at max_tokens",
        now=RECEIVED,
        content=[ResultTextBlock(type="text", text="The answer is")],
        stop_reason="max_tokens",
    )
    assert result.content == [ResultTextBlock(type="text", text="The answer is")]
    assert result.stop_reason == "max_tokens"
    assert result.answer is None


def test_result_attempts_do_not_alias_the_work_item() -> None:
    item = work([attempt("answered", 0.1)])
    result = ok(item, RECEIVED)
    assert result.attempts is not item.attempts
    assert result.attempts == item.attempts


@pytest.mark.parametrize(
    ("error_type", "outcome"),
    [
        (RateLimitedError, "rate_limited"),
        (OverloadedError, "overloaded"),
        (ModelFailedError, "failed"),
        (ModelCallError, "failed"),
    ],
)
def test_attempts_for_failures_outcome(error_type: type[ModelCallError], outcome: str) -> None:
    failures = [FailedCall("claude-opus-4-7", error_type("boom", model="claude-opus-4-7"))]
    assert attempts_for_failures("opus", failures) == [
        Attempt(tier="opus", model="claude-opus-4-7", outcome=outcome)
    ]


def test_attempts_for_failures_keeps_order_and_models() -> None:
    failures = [
        FailedCall("claude-opus-4-7", OverloadedError("529", model="claude-opus-4-7")),
        FailedCall("claude-sonnet-4-6", RateLimitedError("429", model="claude-sonnet-4-6")),
        FailedCall("claude-haiku-4-5", ModelFailedError("500", model="claude-haiku-4-5")),
    ]
    attempts = attempts_for_failures("opus", failures)
    assert [(a.tier, a.model, a.outcome) for a in attempts] == [
        ("opus", "claude-opus-4-7", "overloaded"),
        ("opus", "claude-sonnet-4-6", "rate_limited"),
        ("opus", "claude-haiku-4-5", "failed"),
    ]
    assert all(a.cost_usd == 0.0 and a.input_tokens == 0 for a in attempts)


def test_attempts_for_no_failures() -> None:
    assert attempts_for_failures("haiku", []) == []
    assert attempts_for_failures("haiku", iter(())) == []


@pytest.mark.parametrize(
    ("usage", "outcome", "confidence"),
    [
        (TokenUsage(10, 20), "answered", 0.9),
        (
            TokenUsage(10, 20, cache_read_input_tokens=300, cache_creation_input_tokens=40),
            "escalated",
            0.2,
        ),
        (TokenUsage(0, 0), "classified", None),
    ],
)
def test_attempt_for_reply(usage: TokenUsage, outcome: str, confidence: float | None) -> None:
    reply = ModelReply(
        model="claude-haiku-4-5-20251001",
        content=[],
        stop_reason="tool_use",
        usage=usage,
        cost_usd=0.0123,
        latency_ms=456.7,
    )
    assert attempt_for_reply("haiku", reply, outcome, confidence) == Attempt(
        tier="haiku",
        model="claude-haiku-4-5-20251001",
        outcome=outcome,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        cost_usd=0.0123,
        latency_ms=456.7,
        confidence=confidence,
    )
