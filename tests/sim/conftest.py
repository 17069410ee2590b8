"""Fixtures: an in-process simulator on a free port and real SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic
import pytest

from streamrouter.sim import Scenario, SimServer

CLASSIFY_TOOL: dict[str, Any] = {
    "name": "classify_request",
    "description": "Classify how hard the request is.",
    "input_schema": {
        "type": "object",
        "properties": {
            "complexity": {"type": "string", "enum": ["simple", "medium", "hard"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reason": {"type": "string"},
        },
        "required": ["complexity", "confidence", "reason"],
    },
}
ANSWER_TOOL: dict[str, Any] = {
    "name": "submit_answer",
    "description": "Submit the answer with a confidence.",
    "input_schema": {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reasoning": {"type": "string"},
        },
        "required": ["answer", "confidence", "reasoning"],
    },
}

StartSim = Callable[..., Awaitable[SimServer]]
MakeClient = Callable[..., anthropic.AsyncAnthropic]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def classify_args(text: str, model: str = "claude-haiku-4-5") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 256,
        "messages": user(text),
        "tools": [CLASSIFY_TOOL],
        "tool_choice": {"type": "tool", "name": "classify_request"},
    }


def answer_args(
    text: str, model: str = "claude-haiku-4-5", max_tokens: int = 1024
) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": max_tokens,
        "messages": user(text),
        "tools": [ANSWER_TOOL],
        "tool_choice": {"type": "tool", "name": "submit_answer"},
    }


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """``await start_sim(rules=[...], latency_ms=...)``: a started simulator, stopped after."""
    servers: list[SimServer] = []

    async def start(**scenario: Any) -> SimServer:
        server = SimServer(Scenario.from_data(scenario))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """``make_client(server, **options)``: a real AsyncAnthropic, no retries, short timeout."""
    clients: list[anthropic.AsyncAnthropic] = []

    def make(server: SimServer, **options: Any) -> anthropic.AsyncAnthropic:
        options = {"api_key": "test-key", "max_retries": 0, "timeout": 5.0, **options}
        client = anthropic.AsyncAnthropic(base_url=server.url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
