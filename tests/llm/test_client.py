from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message

from streamrouter.errors import (
    ModelCallError,
    ModelFailedError,
    OverloadedError,
    RateLimitedError,
    RequestRejectedError,
)
from streamrouter.llm.client import (
    ModelCall,
    ModelGateway,
    ModelReply,
    _request_body,
    _translate,
    create_anthropic_client,
)
from streamrouter.llm.pricing import PriceTable, TokenUsage

TOOL = {
    "name": "submit_answer",
    "description": "Submit the answer.",
    "input_schema": {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    },
}
MESSAGES = [{"role": "user", "content": "hi"}]
REQUEST = httpx2.Request("POST", "http://sim.invalid/v1/messages")


def call(**fields: Any) -> ModelCall:
    return ModelCall(**{"messages": MESSAGES, "max_tokens": 64, "tool": TOOL, **fields})


# _request_body


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        (
            {},
            {
                "max_tokens": 64,
                "messages": MESSAGES,
                "tools": [TOOL],
                "tool_choice": {"type": "tool", "name": "submit_answer"},
            },
        ),
        (
            {"system": "be brief"},
            {
                "max_tokens": 64,
                "messages": MESSAGES,
                "system": "be brief",
                "tools": [TOOL],
                "tool_choice": {"type": "tool", "name": "submit_answer"},
            },
        ),
        (
            {"system": ""},  # an empty system prompt is left out, not sent empty
            {
                "max_tokens": 64,
                "messages": MESSAGES,
                "tools": [TOOL],
                "tool_choice": {"type": "tool", "name": "submit_answer"},
            },
        ),
        (
            {"structured_output": "json_schema"},
            {
                "max_tokens": 64,
                "messages": MESSAGES,
                "output_config": {
                    "format": {"type": "json_schema", "schema": TOOL["input_schema"]}
                },
            },
        ),
        (
            {"structured_output": "json_schema", "system": "s", "max_tokens": 21_000},
            {
                "max_tokens": 21_000,
                "messages": MESSAGES,
                "system": "s",
                "output_config": {
                    "format": {"type": "json_schema", "schema": TOOL["input_schema"]}
                },
            },
        ),
    ],
)
def test_request_body(fields: dict[str, Any], body: dict[str, Any]) -> None:
    assert _request_body(call(**fields)) == body


def test_request_body_does_not_name_a_model() -> None:
    # One prompt for any tier: the model is added by the gateway, per call.
    for mode in ("tool", "json_schema"):
        assert "model" not in _request_body(call(structured_output=mode))


def test_request_body_keys_are_sdk_parameters() -> None:
    import inspect

    params = inspect.signature(anthropic.AsyncAnthropic(api_key="x").messages.create).parameters
    for mode in ("tool", "json_schema"):
        assert set(_request_body(call(system="s", structured_output=mode))) <= set(params)


# _translate


def status_error(cls: type[anthropic.APIStatusError], status: int) -> anthropic.APIStatusError:
    return cls("boom", response=httpx2.Response(status, request=REQUEST), body=None)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(status_error(anthropic.RateLimitError, 429), RateLimitedError, id="429"),
        pytest.param(
            status_error(anthropic.RampLimitExceededError, 429), RateLimitedError, id="429-ramp"
        ),
        # 529 OverloadedError subclasses InternalServerError: it must not become "failed".
        pytest.param(status_error(anthropic.OverloadedError, 529), OverloadedError, id="529"),
        pytest.param(status_error(anthropic.InternalServerError, 500), ModelFailedError, id="500"),
        pytest.param(status_error(anthropic.BadRequestError, 400), RequestRejectedError, id="400"),
        pytest.param(
            status_error(anthropic.UnprocessableEntityError, 422), RequestRejectedError, id="422"
        ),
        pytest.param(status_error(anthropic.AuthenticationError, 401), ModelFailedError, id="401"),
        pytest.param(status_error(anthropic.NotFoundError, 404), ModelFailedError, id="404"),
        pytest.param(
            status_error(anthropic.ServiceUnavailableError, 503), ModelFailedError, id="503"
        ),
        pytest.param(status_error(anthropic.GatewayTimeoutError, 504), ModelFailedError, id="504"),
        pytest.param(anthropic.APITimeoutError(request=REQUEST), ModelFailedError, id="timeout"),
        pytest.param(
            anthropic.APIConnectionError(request=REQUEST), ModelFailedError, id="connection"
        ),
        pytest.param(
            anthropic.APIResponseValidationError(
                response=httpx2.Response(200, request=REQUEST), body=None
            ),
            ModelFailedError,
            id="bad-response",
        ),
    ],
)
def test_translate(exc: anthropic.APIError, expected: type[ModelCallError]) -> None:
    error = _translate(exc, "claude-opus-4-7")
    assert type(error) is expected
    assert error.model == "claude-opus-4-7"
    assert str(error).startswith(f"claude-opus-4-7: {type(exc).__name__}: ")


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (status_error(anthropic.RateLimitError, 429), "rate_limited"),
        (status_error(anthropic.OverloadedError, 529), "overloaded"),
        (status_error(anthropic.InternalServerError, 500), "failed"),
        (anthropic.APITimeoutError(request=REQUEST), "failed"),
    ],
)
def test_translated_outcome(exc: anthropic.APIError, outcome: str) -> None:
    assert _translate(exc, "m").outcome == outcome


# ModelGateway over a stub SDK client

PRICES = PriceTable.from_mapping(
    {
        "checked": "2026-11-25",
        "models": {
            "claude-haiku-4-5": {
                "input": 1,
                "output": 5,
                "cache_write_5m": 1.25,
                "cache_write_1h": 2,
                "cache_read": 0.1,
            }
        },
    }
)


def message(model: str | None, usage: dict[str, Any]) -> Message:
    return Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "submit_answer",
                    "input": {"answer": "42"},
                },
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": usage,
        }
    )


class StubMessages:
    def __init__(self, outcome: Message | Exception) -> None:
        self.outcome = outcome
        self.kwargs: list[dict[str, Any]] = []

    async def create(self, **kwargs: Any) -> Message:
        self.kwargs.append(kwargs)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class StubClient:
    def __init__(self, outcome: Message | Exception) -> None:
        self.messages = StubMessages(outcome)
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize(
    ("usage", "tokens", "cost"),
    [
        (
            {"input_tokens": 1000, "output_tokens": 200},
            TokenUsage(1000, 200),
            (1000 * 1 + 200 * 5) / 1e6,
        ),
        (
            {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_read_input_tokens": None,
                "cache_creation_input_tokens": None,
            },
            TokenUsage(10, 20),
            (10 * 1 + 20 * 5) / 1e6,
        ),
        (
            {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 400,
            },
            TokenUsage(10, 20, 1000, 400),
            (10 * 1 + 20 * 5 + 1000 * 0.1 + 400 * 1.25) / 1e6,
        ),
    ],
)
async def test_gateway_call_prices_the_reply(
    usage: dict[str, Any], tokens: TokenUsage, cost: float
) -> None:
    client = StubClient(message("claude-haiku-4-5-20251001", usage))
    gateway = ModelGateway(client, PRICES)  # type: ignore[arg-type]
    reply = await gateway.call("claude-haiku-4-5", call(system="sys"))
    assert isinstance(reply, ModelReply)
    assert reply.model == "claude-haiku-4-5-20251001"  # the model that answered
    assert reply.usage == tokens
    assert reply.cost_usd == pytest.approx(cost)
    assert reply.stop_reason == "tool_use"
    assert reply.latency_ms >= 0
    assert reply.content[0]["type"] == "tool_use"
    assert reply.content[0]["input"] == {"answer": "42"}
    assert client.messages.kwargs == [
        {"model": "claude-haiku-4-5", **_request_body(call(system="sys"))}
    ]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (status_error(anthropic.RateLimitError, 429), RateLimitedError),
        (status_error(anthropic.OverloadedError, 529), OverloadedError),
        (anthropic.APITimeoutError(request=REQUEST), ModelFailedError),
    ],
)
async def test_gateway_call_translates_sdk_errors(
    exc: anthropic.APIError, expected: type[ModelCallError]
) -> None:
    gateway = ModelGateway(StubClient(exc), PRICES)  # type: ignore[arg-type]
    with pytest.raises(expected) as info:
        await gateway.call("claude-haiku-4-5", call())
    assert info.value.__cause__ is exc
    assert info.value.model == "claude-haiku-4-5"


async def test_gateway_close_closes_the_client() -> None:
    client = StubClient(anthropic.APITimeoutError(request=REQUEST))
    await ModelGateway(client, PRICES).close()  # type: ignore[arg-type]
    assert client.closed == 1


@pytest.mark.parametrize(("timeout_s", "max_retries"), [(5.0, 0), (60.0, 2)])
def test_create_anthropic_client(
    monkeypatch: pytest.MonkeyPatch, timeout_s: float, max_retries: int
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    client = create_anthropic_client(timeout_s=timeout_s, max_retries=max_retries)
    assert client.timeout == timeout_s
    assert client.max_retries == max_retries


@pytest.mark.parametrize(
    ("system", "min_tokens", "cached"),
    [
        ("x" * 8000, 1024, True),
        ("x" * 100, 1024, False),
        ("x" * 8000, None, False),
    ],
)
def test_long_stable_prefixes_carry_a_cache_breakpoint(
    system: str, min_tokens: int | None, cached: bool
) -> None:
    body = _request_body(call(system=system), min_tokens)
    if cached:
        assert body["system"] == [
            {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
        ]
    else:
        assert body["system"] == system
