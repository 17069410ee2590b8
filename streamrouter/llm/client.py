"""One model call through the real ``anthropic`` SDK, priced, with errors translated.

The SDK client makes one HTTP attempt per ``create``; the gateway retries as
:mod:`streamrouter.llm.retry` decides, within the deadline of the chain it is part of.
What still fails is translated into :mod:`streamrouter.errors` so the fallback chain can
decide. Structured output is asked for by forced tool use or, for models that reject it,
by JSON-schema output; both come back as plain content-block dicts.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import anthropic
import httpx2
from anthropic.types import Message

from streamrouter.errors import (
    ModelCallError,
    ModelFailedError,
    ModelTimeoutError,
    OverloadedError,
    RateLimitedError,
    RequestRejectedError,
)
from streamrouter.llm.connections import (
    DEFAULT_MAX_CONNECTIONS,
    ShardedTransport,
    environment_proxy,
)
from streamrouter.llm.pricing import PriceTable, TokenUsage, price_usage
from streamrouter.llm.retry import Failure, RetryPolicy, retry_delay

__all__ = ["ModelCall", "ModelGateway", "ModelReply", "create_anthropic_client"]

# Bad request, too large, unprocessable: the request's fault, whichever model gets it.
REJECTED_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True)
class ModelCall:
    """What to ask, independent of which model answers (one prompt, any tier).

    ``messages`` and a list ``system`` are in the Messages API's form (content blocks
    as dicts); ``parameters`` are further API parameters sent as they are (the user's
    ``temperature``, ``top_p``, ``top_k``, ``stop_sequences``, ``service_tier``,
    ``metadata``)."""

    messages: list[dict[str, Any]]
    max_tokens: int
    tool: dict[str, Any] | None  # the service's tool the answer must come through; None:
    # the model answers as it likes (the caller's own tools, if any, are in parameters)
    system: str | list[dict[str, Any]] | None = None
    structured_output: Literal["tool", "json_schema"] = "tool"
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelReply:
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: TokenUsage
    cost_usd: float
    latency_ms: float
    stop_sequence: str | None = None  # the stop sequence that ended it, if one did
    extra: dict[str, Any] = field(default_factory=dict)


# Where the SDK sends calls when ``ANTHROPIC_BASE_URL`` is not set.
DEFAULT_BASE_URL = "https://api.anthropic.com"


def create_anthropic_client(
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> anthropic.AsyncAnthropic:
    """The SDK client; base URL and key come from ``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY``.

    No SDK retries (the gateway's, see :mod:`streamrouter.llm.retry`) and no client-wide
    timeout: each call gets its own. The SDK's own OpenTelemetry spans are off:
    streamrouter emits GenAI spans itself. Up to ``max_connections`` calls at once, over
    small connection pools (:mod:`streamrouter.llm.connections`), through the proxy the
    environment names for the API's URL.
    """
    base_url = os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
    http_client = httpx2.AsyncClient(
        transport=ShardedTransport(max_connections, proxy=environment_proxy(base_url)),
        timeout=anthropic.DEFAULT_TIMEOUT,
        follow_redirects=True,
    )
    return anthropic.AsyncAnthropic(
        base_url=base_url, max_retries=0, open_telemetry=False, http_client=http_client
    )


class ModelGateway:
    """Calls one model, with its retries, and prices the reply. Holds the SDK client;
    owns nothing else."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        prices: PriceTable,
        cache_min_tokens: int | None = None,
        *,
        retry: RetryPolicy,
    ) -> None:
        """``cache_min_tokens``: mark stable prefixes at least this long for prompt
        caching (None: never)."""
        self._client = client
        self._prices = prices
        self._cache_min_tokens = cache_min_tokens
        self.retry = retry

    async def call(self, model: str, call: ModelCall, deadline: float) -> ModelReply:
        """Ask ``model``; give up at ``deadline`` (``time.monotonic()`` seconds)."""
        started = time.perf_counter()
        message = await self._create(model, _request_body(call, self._cache_min_tokens), deadline)
        latency_ms = (time.perf_counter() - started) * 1000
        usage = TokenUsage(
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            cache_read_input_tokens=message.usage.cache_read_input_tokens or 0,
            cache_creation_input_tokens=message.usage.cache_creation_input_tokens or 0,
        )
        return ModelReply(
            model=message.model or model,
            content=[block.model_dump() for block in message.content],
            stop_reason=message.stop_reason,
            stop_sequence=message.stop_sequence,
            usage=usage,
            cost_usd=price_usage(self._prices.price_for(model), usage),
            latency_ms=latency_ms,
        )

    async def _create(self, model: str, body: dict[str, Any], deadline: float) -> Message:
        body, extra_body = _split_extra_body(body)
        retries_taken = 0
        while True:
            time_left = deadline - time.monotonic()
            try:
                # The SDK's timeout bounds each read of the response, not the whole call:
                # the outer one holds the deadline against a server that answers slowly.
                async with asyncio.timeout(time_left):
                    return await self._client.messages.create(
                        model=model,
                        **body,
                        extra_body=extra_body,
                        timeout=self.retry.attempt_timeout(time_left),
                        # As the SDK's own retries would: tells the API this is a retry.
                        extra_headers={"x-stainless-retry-count": str(retries_taken)},
                    )
            except (anthropic.APIError, TimeoutError) as exc:
                delay = retry_delay(
                    _failure(exc),
                    retries_taken=retries_taken,
                    max_retries=self.retry.max_retries,
                    time_left_s=deadline - time.monotonic(),
                    jitter=random.random(),
                )
                if delay is None:
                    raise _translate(exc, model) from exc
            await asyncio.sleep(delay)
            retries_taken += 1

    async def close(self) -> None:
        await self._client.close()


# Sampling parameters the installed SDK (2.16) no longer names in ``messages.create``:
# they go in ``extra_body``, which every 2.x SDK merges into the request's JSON as is.
EXTRA_BODY_KEYS = frozenset({"temperature", "top_p", "top_k"})


def _split_extra_body(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``body`` as the SDK's keyword arguments and its ``extra_body``."""
    extra = {key: value for key, value in body.items() if key in EXTRA_BODY_KEYS}
    rest = {key: value for key, value in body.items() if key not in EXTRA_BODY_KEYS}
    return rest, extra or None


# The API takes at most this many cache_control breakpoints in one request.
MAX_CACHE_BREAKPOINTS = 4
_EPHEMERAL = {"type": "ephemeral"}


def _request_body(call: ModelCall, cache_min_tokens: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        **call.parameters,
        "max_tokens": call.max_tokens,
        "messages": call.messages,
    }
    if call.system:
        body["system"] = call.system
        if cache_min_tokens is not None and _prefix_tokens(call) >= cache_min_tokens:
            # The breakpoint after the system prompt caches the tool definitions too.
            body["system"] = _with_breakpoint(call)
    if call.tool is None:
        return body
    if call.structured_output == "tool":
        body["tools"] = [call.tool]
        body["tool_choice"] = {"type": "tool", "name": call.tool["name"]}
    else:
        schema = call.tool["input_schema"]
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return body


def _with_breakpoint(call: ModelCall) -> list[dict[str, Any]]:
    """The system blocks with a breakpoint on the last one (left as they are when it
    has one, or when the user's own breakpoints leave no room for another)."""
    if isinstance(call.system, str):
        return [{"type": "text", "text": call.system, "cache_control": dict(_EPHEMERAL)}]
    blocks = list(call.system or ())
    if "cache_control" in blocks[-1] or _breakpoints(call) >= MAX_CACHE_BREAKPOINTS:
        return blocks
    return [*blocks[:-1], {**blocks[-1], "cache_control": dict(_EPHEMERAL)}]


def _breakpoints(call: ModelCall) -> int:
    """The ``cache_control`` marks the caller's tools, system blocks and messages carry."""
    blocks = [b for b in call.parameters.get("tools", ()) if isinstance(b, dict)]
    blocks += [b for b in call.system or () if isinstance(b, dict)]
    for message in call.messages:
        if isinstance(message["content"], list):
            blocks += message["content"]
            for block in message["content"]:
                if isinstance(block.get("content"), list):  # a tool_result's blocks
                    blocks += block["content"]
    return sum(1 for block in blocks if block.get("cache_control"))


def _prefix_tokens(call: ModelCall) -> int:
    """Roughly the tokens before the first message (4 characters a token)."""
    if call.tool is None:
        tools = call.parameters.get("tools")  # the caller's own, in natural answers
    else:
        tools = [call.tool] if call.structured_output == "tool" else None
    tools = json.dumps(tools) if tools else ""
    if isinstance(call.system, list):
        system = sum(len(block.get("text", "")) for block in call.system)
    else:
        system = len(call.system or "")
    return (system + len(tools)) // 4


def _failure(exc: anthropic.APIError | TimeoutError) -> Failure:
    if _timed_out(exc):
        return Failure("timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return Failure("connection")
    if isinstance(exc, anthropic.APIStatusError):
        return Failure("response", exc.status_code, exc.response.headers)
    return Failure("response")  # an answer that is not a message: asking again won't help


def _timed_out(exc: anthropic.APIError | TimeoutError) -> bool:
    return isinstance(exc, anthropic.APITimeoutError | TimeoutError)


def _translate(exc: anthropic.APIError | TimeoutError, model: str) -> ModelCallError:
    message = f"{model}: {type(exc).__name__}: {str(exc) or 'the time budget ran out'}"
    if _timed_out(exc):
        return ModelTimeoutError(message, model=model)
    if isinstance(exc, anthropic.RateLimitError):
        return RateLimitedError(message, model=model)
    if isinstance(exc, anthropic.OverloadedError):
        return OverloadedError(message, model=model)
    if isinstance(exc, anthropic.APIStatusError) and exc.status_code in REJECTED_STATUSES:
        return RequestRejectedError(message, model=model)
    return ModelFailedError(message, model=model)
