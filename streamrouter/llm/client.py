"""One model call through the real ``anthropic`` SDK, priced, with errors translated.

The SDK does its own retries (``max_retries``, honouring ``retry-after``); what still
fails after them is translated into :mod:`streamrouter.errors` so the fallback chain
can decide. Structured output is asked for by forced tool use or, for models that
reject it, by JSON-schema output; both come back as plain content-block dicts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import anthropic

from streamrouter.errors import (
    ModelCallError,
    ModelFailedError,
    OverloadedError,
    RateLimitedError,
    RequestRejectedError,
)
from streamrouter.llm.pricing import PriceTable, TokenUsage, price_usage

__all__ = ["ModelCall", "ModelGateway", "ModelReply", "create_anthropic_client"]

# Bad request, too large, unprocessable: the request's fault, whichever model gets it.
REJECTED_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True)
class ModelCall:
    """What to ask, independent of which model answers (one prompt, any tier)."""

    messages: list[dict[str, Any]]
    max_tokens: int
    tool: dict[str, Any]
    system: str | None = None
    structured_output: Literal["tool", "json_schema"] = "tool"


@dataclass(frozen=True)
class ModelReply:
    model: str
    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: TokenUsage
    cost_usd: float
    latency_ms: float
    extra: dict[str, Any] = field(default_factory=dict)


def create_anthropic_client(*, timeout_s: float, max_retries: int) -> anthropic.AsyncAnthropic:
    """The SDK client; base URL and key come from ``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY``.

    The SDK's own OpenTelemetry spans are off: streamrouter emits GenAI spans itself.
    """
    return anthropic.AsyncAnthropic(
        timeout=timeout_s, max_retries=max_retries, open_telemetry=False
    )


class ModelGateway:
    """Calls one model and prices the reply. Holds the SDK client; owns nothing else."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        prices: PriceTable,
        cache_min_tokens: int | None = None,
    ) -> None:
        """``cache_min_tokens``: mark stable prefixes at least this long for prompt
        caching (None: never)."""
        self._client = client
        self._prices = prices
        self._cache_min_tokens = cache_min_tokens

    async def call(self, model: str, call: ModelCall) -> ModelReply:
        started = time.perf_counter()
        try:
            message = await self._client.messages.create(
                model=model, **_request_body(call, self._cache_min_tokens)
            )
        except anthropic.APIError as exc:
            raise _translate(exc, model) from exc
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
            usage=usage,
            cost_usd=price_usage(self._prices.price_for(model), usage),
            latency_ms=latency_ms,
        )

    async def close(self) -> None:
        await self._client.close()


def _request_body(call: ModelCall, cache_min_tokens: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"max_tokens": call.max_tokens, "messages": call.messages}
    if call.system:
        body["system"] = call.system
        if cache_min_tokens is not None and _prefix_tokens(call) >= cache_min_tokens:
            # The breakpoint after the system prompt caches the tool definitions too.
            cached = {"type": "text", "text": call.system, "cache_control": {"type": "ephemeral"}}
            body["system"] = [cached]
    if call.structured_output == "tool":
        body["tools"] = [call.tool]
        body["tool_choice"] = {"type": "tool", "name": call.tool["name"]}
    else:
        schema = call.tool["input_schema"]
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return body


def _prefix_tokens(call: ModelCall) -> int:
    """Roughly the tokens before the first message (4 characters a token)."""
    tools = json.dumps(call.tool) if call.structured_output == "tool" else ""
    return (len(call.system or "") + len(tools)) // 4


def _translate(exc: anthropic.APIError, model: str) -> ModelCallError:
    message = f"{model}: {type(exc).__name__}: {exc}"
    if isinstance(exc, anthropic.RateLimitError):
        return RateLimitedError(message, model=model)
    if isinstance(exc, anthropic.OverloadedError):
        return OverloadedError(message, model=model)
    if isinstance(exc, anthropic.APIStatusError) and exc.status_code in REJECTED_STATUSES:
        return RequestRejectedError(message, model=model)
    return ModelFailedError(message, model=model)
