"""The answer stage: a tier answers or escalates; a reply without an answer at the last
allowed tier is an ``incomplete_answer`` error, never ``status: ok`` with an empty answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streamrouter.config import Policy
from streamrouter.events import LLMRequest, LLMResult, Message, Route, WorkItem
from streamrouter.llm.client import ModelCall, ModelReply
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.llm.pricing import TokenUsage
from streamrouter.llm.retry import RetryPolicy
from streamrouter.pipeline.answer import INCOMPLETE_ANSWER, answer
from streamrouter.pipeline.context import PipelineContext
from streamrouter.routing.validate import RequestLimits

NOW = datetime(2026, 11, 25, tzinfo=UTC)
POLICY = Policy()  # haiku 0.85 -> sonnet 0.80 -> opus
MODELS = {t.name: t.model for t in POLICY.tiers}
MAX_TOKENS = 256


def tool_reply(
    model: str, tool_input: dict[str, Any], stop_reason: str = "tool_use", output_tokens: int = 40
) -> ModelReply:
    return ModelReply(
        model=model,
        content=[{"type": "tool_use", "id": "t1", "name": "submit_answer", "input": tool_input}],
        stop_reason=stop_reason,
        usage=TokenUsage(input_tokens=100, output_tokens=output_tokens),
        cost_usd=0.01,
        latency_ms=5.0,
    )


def cut_off(model: str) -> ModelReply:
    """Cut at max_tokens while writing the tool input: no ``answer`` in it yet."""
    return tool_reply(
        model, {"confidence": 0.9}, stop_reason="max_tokens", output_tokens=MAX_TOKENS
    )


class ScriptedGateway:
    """Answers each model with its scripted reply."""

    retry = RetryPolicy(max_retries=0, attempt_timeout_s=5.0, budget_s=10.0)

    def __init__(self, replies: dict[str, ModelReply]) -> None:
        self.replies = replies
        self.calls: list[str] = []

    async def call(self, model: str, call: ModelCall, deadline: float) -> ModelReply:
        self.calls.append(model)
        return self.replies[model]


def context(replies: dict[str, ModelReply]) -> PipelineContext:
    return PipelineContext(
        policy=POLICY,
        limits=RequestLimits(max_prompt_chars=10_000, max_output_tokens=4096),
        gateway=ScriptedGateway(replies),  # type: ignore[arg-type]
        cooldowns=Cooldowns(),
    )


def work(tier: str, max_tier: str | None = None) -> WorkItem:
    request = LLMRequest(
        request_id="r1",
        messages=[Message(role="user", content="Explain the design.")],
        max_tokens=MAX_TOKENS,
    )
    route = Route(strategy="pinned", reason="test")
    return WorkItem(request=request, route=route, tier=tier, received_at=NOW, max_tier=max_tier)


async def run(item: WorkItem, ctx: PipelineContext) -> LLMResult:
    """Answer, and answer again at every tier it escalates to, as the tier agents do."""
    outcome: WorkItem | LLMResult = item
    for _ in POLICY.tiers:
        assert isinstance(outcome, WorkItem)
        outcome = await answer(outcome, ctx, lambda: NOW)
        if isinstance(outcome, LLMResult):
            return outcome
    raise AssertionError("escalated past the top tier")


async def test_top_tier_cut_at_max_tokens_without_answer_is_an_error() -> None:
    result = await run(work("opus"), context({MODELS["opus"]: cut_off(MODELS["opus"])}))
    assert result.status == "error"
    assert result.answer is None
    assert result.error is not None and result.error.type == INCOMPLETE_ANSWER
    assert "stop_reason max_tokens" in result.error.message
    assert f"{MAX_TOKENS} output tokens of max_tokens {MAX_TOKENS}" in result.error.message
    assert [(a.tier, a.outcome) for a in result.attempts] == [("opus", "answered")]
    assert result.total_cost_usd == pytest.approx(0.01)


async def test_cut_off_from_haiku_escalates_and_ends_in_one_error_with_every_cost() -> None:
    ctx = context({model: cut_off(model) for model in MODELS.values()})
    result = await run(work("haiku"), ctx)
    assert result.status == "error"
    assert result.error is not None and result.error.type == INCOMPLETE_ANSWER
    assert [(a.tier, a.outcome) for a in result.attempts] == [
        ("haiku", "escalated"),
        ("sonnet", "escalated"),
        ("opus", "answered"),
    ]
    assert result.escalated
    assert result.total_cost_usd == pytest.approx(0.03)


async def test_a_lower_tiers_draft_is_named_but_not_returned() -> None:
    unsure = tool_reply(MODELS["sonnet"], {"answer": "A partial design.", "confidence": 0.3})
    ctx = context({MODELS["sonnet"]: unsure, MODELS["opus"]: cut_off(MODELS["opus"])})
    result = await run(work("sonnet"), ctx)
    assert result.status == "error" and result.answer is None
    assert result.error is not None and result.error.type == INCOMPLETE_ANSWER
    assert "sonnet draft" in result.error.message and "not returned" in result.error.message


async def test_budget_capped_tier_is_the_last_allowed_one() -> None:
    ctx = context({MODELS["haiku"]: cut_off(MODELS["haiku"])})
    result = await run(work("haiku", max_tier="haiku"), ctx)
    assert result.error is not None and result.error.type == INCOMPLETE_ANSWER
    assert [a.tier for a in result.attempts] == ["haiku"]


async def test_empty_answer_without_truncation_is_an_error_too() -> None:
    empty = tool_reply(MODELS["opus"], {"answer": "  ", "confidence": 0.9})
    result = await run(work("opus"), context({MODELS["opus"]: empty}))
    assert result.error is not None and result.error.type == INCOMPLETE_ANSWER
    assert "stop_reason tool_use" in result.error.message
    assert "cut off" not in result.error.message


async def test_top_tier_answer_is_ok() -> None:
    done = tool_reply(MODELS["opus"], {"answer": "The design.", "confidence": 0.5})
    result = await run(work("opus"), context({MODELS["opus"]: done}))
    assert (result.status, result.answer, result.tier, result.error) == (
        "ok",
        "The design.",
        "opus",
        None,
    )


@pytest.mark.parametrize("word", ["however", "instead"])
async def test_confident_prose_with_a_revision_word_stays_at_haiku(word: str) -> None:
    prose = f"Use a queue per tenant; {word}, keep one consumer group for the whole service."
    reply = tool_reply(MODELS["haiku"], {"answer": prose, "confidence": 0.95})
    result = await run(work("haiku"), context({MODELS["haiku"]: reply}))
    assert (result.status, result.tier, result.escalated) == ("ok", "haiku", False)
    assert result.confidence == pytest.approx(0.905)
