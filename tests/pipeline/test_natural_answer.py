"""Natural answers: every tier gets the request as sent, and the result carries the
model's own content; a tool call is final at its tier."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streamrouter.codec import decode, encode
from streamrouter.config import Policy
from streamrouter.events import LLMRequest, LLMResult, WorkItem
from streamrouter.llm.client import ModelCall, ModelReply, _request_body
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.llm.pricing import TokenUsage
from streamrouter.llm.retry import RetryPolicy
from streamrouter.pipeline.answer import answer
from streamrouter.pipeline.context import PipelineContext
from streamrouter.routing.validate import RequestLimits

NOW = datetime(2026, 12, 3, tzinfo=UTC)
NATURAL = Policy(answer_mode="natural")
MODELS = {t.name: t.model for t in NATURAL.tiers}
TOOL = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
PROSE = (
    "Kafka keeps the records of a partition in order, and each consumer group reads "
    "every partition from its own committed offset."
)


def reply(model: str, *blocks: dict[str, Any], stop_reason: str = "end_turn") -> ModelReply:
    return ModelReply(
        model=model,
        content=list(blocks),
        stop_reason=stop_reason,
        usage=TokenUsage(input_tokens=50, output_tokens=40),
        cost_usd=0.01,
        latency_ms=5.0,
    )


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value, "citations": None}


class RecordingGateway:
    retry = RetryPolicy(max_retries=0, attempt_timeout_s=5.0, budget_s=10.0)

    def __init__(self, replies: dict[str, ModelReply]) -> None:
        self.replies = replies
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def call(self, model: str, call: ModelCall, deadline: float) -> ModelReply:
        self.bodies.append((model, _request_body(call)))
        return self.replies[model]


async def run(
    request: dict[str, Any], replies: dict[str, ModelReply], policy: Policy = NATURAL
) -> tuple[LLMResult, RecordingGateway]:
    gateway = RecordingGateway(replies)
    ctx = PipelineContext(
        policy=policy,
        limits=RequestLimits(max_prompt_chars=10_000, max_output_tokens=4096),
        gateway=gateway,  # type: ignore[arg-type]
        cooldowns=Cooldowns(),
    )
    outcome: WorkItem | LLMResult = WorkItem(
        request=LLMRequest.model_validate({"request_id": "r1", **request}),
        tier="haiku",
        received_at=NOW,
    )
    while isinstance(outcome, WorkItem):
        outcome = await answer(outcome, ctx, lambda: NOW)
    return outcome, gateway


async def test_every_tier_gets_the_request_as_sent() -> None:
    request = {
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Why do partitions matter?"}],
        "max_tokens": 300,
        "temperature": 0.3,
        "stop_sequences": ["END"],
    }
    hedged = text("Perhaps, maybe, it might possibly be about ordering, I think.")
    replies = {
        MODELS["haiku"]: reply(MODELS["haiku"], hedged),
        MODELS["sonnet"]: reply(MODELS["sonnet"], text(PROSE)),
    }
    result, gateway = await run(request, replies)

    assert (result.status, result.tier, result.escalated) == ("ok", "sonnet", True)
    sent = {
        "system": request["system"],
        "messages": request["messages"],
        "max_tokens": 300,
        "temperature": 0.3,
        "stop_sequences": ["END"],
    }
    # No instructions, no forced tool, and no draft on escalation: only the model changes.
    assert gateway.bodies == [(MODELS["haiku"], sent), (MODELS["sonnet"], sent)]
    assert result.answer == PROSE
    assert result.stop_reason == "end_turn"
    assert [block.model_dump(exclude_none=True) for block in result.content] == [
        {"type": "text", "text": PROSE}
    ]


async def test_a_clean_natural_answer_stays_at_its_tier() -> None:
    request = {"messages": [{"role": "user", "content": "Why do partitions matter?"}]}
    result, gateway = await run(request, {MODELS["haiku"]: reply(MODELS["haiku"], text(PROSE))})
    assert (result.status, result.tier) == ("ok", "haiku")
    assert result.confidence is not None and result.confidence >= 0.85
    assert len(gateway.bodies) == 1


async def test_a_tool_call_is_final_and_comes_back_as_a_block() -> None:
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather"}
    tool_use["input"] = {"city": "Paris"}
    request = {
        "tools": [TOOL],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    model_reply = reply(MODELS["haiku"], tool_use, stop_reason="tool_use")
    # The default policy answers through its tool, but a request with tools cannot.
    result, gateway = await run(request, {MODELS["haiku"]: model_reply}, Policy())

    assert (result.status, result.tier, result.stop_reason) == ("ok", "haiku", "tool_use")
    assert result.confidence == NATURAL.weights.natural_prior  # no text to judge
    assert [block.model_dump(exclude_none=True) for block in result.content] == [tool_use]
    ((_, body),) = gateway.bodies
    assert body["tools"] == [TOOL] and "tool_choice" not in body


async def test_answers_through_the_tool_carry_the_answer_as_one_text_block() -> None:
    request = {"messages": [{"role": "user", "content": "Why do partitions matter?"}]}
    submitted = {"answer": PROSE, "confidence": 0.95, "reasoning": "known"}
    tool_use = {"type": "tool_use", "id": "t1", "name": "submit_answer", "input": submitted}
    model_reply = reply(MODELS["haiku"], tool_use, stop_reason="tool_use")
    result, gateway = await run(request, {MODELS["haiku"]: model_reply}, Policy())

    assert (result.answer, result.stop_reason) == (PROSE, "end_turn")
    assert [block.model_dump(exclude_none=True) for block in result.content] == [
        {"type": "text", "text": PROSE}
    ]
    ((_, body),) = gateway.bodies
    assert body["tool_choice"] == {"type": "tool", "name": "submit_answer"}


async def test_a_thinking_tool_turn_goes_back_to_the_model_unchanged() -> None:
    thinking = {"type": "thinking", "thinking": "Need the weather.", "signature": "sig=="}
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [thinking, tool_use]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"}],
        },
    ]
    request = {
        "tools": [TOOL],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "max_tokens": 2048,
        "messages": messages,
    }
    validated = LLMRequest.model_validate({"request_id": "r1", **request})
    assert decode(encode(validated), LLMRequest) == validated  # Avro keeps the blocks
    result, gateway = await run(request, {MODELS["haiku"]: reply(MODELS["haiku"], text(PROSE))})

    assert result.status == "ok"
    ((_, body),) = gateway.bodies
    assert body["messages"] == messages
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
