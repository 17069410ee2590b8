from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message

from streamrouter.errors import (
    ModelCallError,
    ModelFailedError,
    ModelTimeoutError,
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
from streamrouter.llm.retry import RetryPolicy

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
        pytest.param(anthropic.APITimeoutError(request=REQUEST), ModelTimeoutError, id="timeout"),
        pytest.param(TimeoutError(), ModelTimeoutError, id="deadline"),
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
def test_translate(exc: anthropic.APIError | TimeoutError, expected: type[ModelCallError]) -> None:
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
        (TimeoutError(), "failed"),
    ],
)
def test_translated_outcome(exc: anthropic.APIError | TimeoutError, outcome: str) -> None:
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


Outcome = Message | Exception


class StubMessages:
    """Plays ``outcomes`` in turn (the last one repeats); an outcome of None never answers."""

    def __init__(self, *outcomes: Outcome | None) -> None:
        self.outcomes = list(outcomes)
        self.kwargs: list[dict[str, Any]] = []

    async def create(self, **kwargs: Any) -> Message:
        self.kwargs.append(kwargs)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if outcome is None:
            await asyncio.sleep(3600)  # a server that trickles bytes: no read ever times out
            raise AssertionError("the call was not cut at the deadline")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @property
    def retry_counts(self) -> list[str]:
        return [kw["extra_headers"]["x-stainless-retry-count"] for kw in self.kwargs]


class StubClient:
    def __init__(self, *outcomes: Outcome | None) -> None:
        self.messages = StubMessages(*outcomes)
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


RETRY = RetryPolicy(max_retries=2, attempt_timeout_s=60.0, budget_s=90.0)


def gateway_of(client: StubClient, retry: RetryPolicy = RETRY) -> ModelGateway:
    return ModelGateway(client, PRICES, retry=retry)  # type: ignore[arg-type]


def deadline_in(seconds: float) -> float:
    return time.monotonic() + seconds


def answer() -> Message:
    return message("claude-haiku-4-5", {"input_tokens": 1, "output_tokens": 1})


def overloaded(**headers: str) -> anthropic.APIStatusError:
    response = httpx2.Response(529, request=REQUEST, headers=headers)
    return anthropic.OverloadedError("overloaded", response=response, body=None)


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
    reply = await gateway_of(client).call("claude-haiku-4-5", call(system="sys"), deadline_in(90))
    assert isinstance(reply, ModelReply)
    assert reply.model == "claude-haiku-4-5-20251001"  # the model that answered
    assert reply.usage == tokens
    assert reply.cost_usd == pytest.approx(cost)
    assert reply.stop_reason == "tool_use"
    assert reply.latency_ms >= 0
    assert reply.content[0]["type"] == "tool_use"
    assert reply.content[0]["input"] == {"answer": "42"}
    [sent] = client.messages.kwargs
    assert sent.pop("timeout") == 60.0  # the attempt's timeout: the budget has 90 s left
    assert sent == {
        "model": "claude-haiku-4-5",
        "extra_headers": {"x-stainless-retry-count": "0"},
        "extra_body": None,
        **_request_body(call(system="sys")),
    }


async def test_gateway_sends_the_users_parameters_sampling_ones_in_the_extra_body() -> None:
    # SDK 2.16's messages.create no longer names temperature, top_p or top_k: they go in
    # extra_body (merged into the JSON body); the others are its keyword arguments.
    parameters = {
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 3,
        "stop_sequences": ["END"],
        "service_tier": "auto",
        "metadata": {"user_id": "u"},
    }
    client = StubClient(message("claude-haiku-4-5", {"input_tokens": 1, "output_tokens": 1}))
    await gateway_of(client).call("claude-haiku-4-5", call(parameters=parameters), deadline_in(90))
    [sent] = client.messages.kwargs
    assert sent["extra_body"] == {"temperature": 0.2, "top_p": 0.9, "top_k": 3}
    assert {k: sent[k] for k in ("stop_sequences", "service_tier", "metadata")} == {
        "stop_sequences": ["END"],
        "service_tier": "auto",
        "metadata": {"user_id": "u"},
    }
    import inspect

    params = inspect.signature(anthropic.AsyncAnthropic(api_key="x").messages.create).parameters
    assert set(sent) <= set(params)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (status_error(anthropic.RateLimitError, 429), RateLimitedError),
        (status_error(anthropic.OverloadedError, 529), OverloadedError),
        (status_error(anthropic.BadRequestError, 400), RequestRejectedError),
        (anthropic.APITimeoutError(request=REQUEST), ModelTimeoutError),
    ],
)
async def test_gateway_call_translates_sdk_errors(
    exc: anthropic.APIError, expected: type[ModelCallError]
) -> None:
    retry = RetryPolicy(max_retries=0, attempt_timeout_s=60.0, budget_s=90.0)
    with pytest.raises(expected) as info:
        await gateway_of(StubClient(exc), retry).call("claude-haiku-4-5", call(), deadline_in(90))
    assert info.value.__cause__ is exc
    assert info.value.model == "claude-haiku-4-5"


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (overloaded(**{"retry-after-ms": "5"}), True),
        (status_error(anthropic.RateLimitError, 429), True),
        (status_error(anthropic.InternalServerError, 500), True),
        (anthropic.APIConnectionError(request=REQUEST), True),
        (anthropic.APITimeoutError(request=REQUEST), False),
        (status_error(anthropic.BadRequestError, 400), False),
    ],
)
async def test_gateway_retries_what_the_retry_policy_allows(
    failure: anthropic.APIError, retried: bool
) -> None:
    client = StubClient(failure, answer())
    gateway = gateway_of(client)
    if retried:
        await gateway.call("claude-haiku-4-5", call(), deadline_in(90))
        assert client.messages.retry_counts == ["0", "1"]
    else:
        with pytest.raises(ModelCallError):
            await gateway.call("claude-haiku-4-5", call(), deadline_in(90))
        assert client.messages.retry_counts == ["0"]


async def test_gateway_gives_up_after_max_retries() -> None:
    client = StubClient(overloaded(**{"retry-after-ms": "5"}))
    with pytest.raises(OverloadedError):
        await gateway_of(client).call("claude-haiku-4-5", call(), deadline_in(90))
    assert client.messages.retry_counts == ["0", "1", "2"]


async def test_gateway_waits_retry_after() -> None:
    client = StubClient(overloaded(**{"retry-after": "0.2"}), answer())
    started = time.monotonic()
    await gateway_of(client).call("claude-haiku-4-5", call(), deadline_in(90))
    assert time.monotonic() - started >= 0.2
    assert len(client.messages.kwargs) == 2


async def test_gateway_does_not_wait_past_the_deadline() -> None:
    client = StubClient(overloaded(**{"retry-after": "30"}), answer())
    started = time.monotonic()
    with pytest.raises(OverloadedError):
        await gateway_of(client).call("claude-haiku-4-5", call(), deadline_in(10))
    assert time.monotonic() - started < 1
    assert len(client.messages.kwargs) == 1


async def test_an_attempt_gets_at_most_what_the_budget_has_left() -> None:
    client = StubClient(answer())
    await gateway_of(client).call("claude-haiku-4-5", call(), deadline_in(0.5))
    assert 0.4 < client.messages.kwargs[0]["timeout"] <= 0.5


async def test_a_call_that_never_ends_is_cut_at_the_deadline() -> None:
    client = StubClient(None)
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError):
        await gateway_of(client).call("claude-haiku-4-5", call(), deadline_in(0.3))
    assert 0.25 < time.monotonic() - started < 1.0
    assert len(client.messages.kwargs) == 1  # a timeout is not retried


async def test_gateway_close_closes_the_client() -> None:
    client = StubClient(answer())
    await gateway_of(client).close()
    assert client.closed == 1


def test_create_anthropic_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    client = create_anthropic_client()
    # The gateway retries (streamrouter.llm.retry): the SDK's retries would repeat timeouts.
    assert client.max_retries == 0


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


# _request_body: the user's blocks and parameters

BLOCKS = [{"type": "text", "text": "x" * 8000}, {"type": "text", "text": "instructions"}]
EPHEMERAL = {"type": "ephemeral"}


def test_request_body_sends_the_parameters_as_given() -> None:
    parameters = {"temperature": 0.3, "stop_sequences": ["END"], "metadata": {"user_id": "u"}}
    body = _request_body(call(parameters=parameters))
    assert {key: body[key] for key in parameters} == parameters
    assert body["tool_choice"] == {"type": "tool", "name": "submit_answer"}


def test_system_blocks_get_the_breakpoint_on_their_last_block() -> None:
    body = _request_body(call(system=BLOCKS), 1024)
    assert body["system"] == [BLOCKS[0], {**BLOCKS[1], "cache_control": EPHEMERAL}]
    assert "cache_control" not in BLOCKS[1]  # the call's own blocks are not changed
    assert _request_body(call(system=BLOCKS), None)["system"] == BLOCKS
    short = [{"type": "text", "text": "s"}]
    assert _request_body(call(system=short), 1024)["system"] == short


def test_the_users_breakpoints_are_kept_and_never_exceed_four() -> None:
    marked = {"type": "text", "text": "m", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    last_marked = [BLOCKS[0], marked]
    assert _request_body(call(system=last_marked), 1024)["system"] == last_marked
    messages = [{"role": "user", "content": [marked, marked, {"type": "text", "text": "q"}]}]
    system = [{**BLOCKS[0], "cache_control": EPHEMERAL}, marked, BLOCKS[1]]
    body = _request_body(call(system=system, messages=messages), 1024)
    assert body["system"] == system  # four already: no room for the service's


def test_the_users_tool_breakpoints_count_too() -> None:
    marked_tool = {"name": "t", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}
    marked = {"type": "text", "text": "m", "cache_control": EPHEMERAL}
    messages = [{"role": "user", "content": [marked, marked, {"type": "text", "text": "q"}]}]
    natural = ModelCall(
        messages=messages,
        max_tokens=100,
        tool=None,
        system=[marked, {"type": "text", "text": "s" * 8000}],
        parameters={"tools": [marked_tool]},
    )
    body = _request_body(natural, 1024)
    assert body["system"] == natural.system  # four already: no room for the service's
    assert body["tools"] == [marked_tool] and "tool_choice" not in body
