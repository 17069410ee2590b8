"""The time budget over HTTP: the real SDK client against a server that never answers,
and against the simulator's 529s."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from itertools import pairwise

import pytest

from streamrouter.llm.client import ModelCall, ModelGateway, create_anthropic_client
from streamrouter.llm.cooldown import Cooldowns
from streamrouter.llm.fallback import ChainExhaustedError, call_with_fallback
from streamrouter.llm.pricing import PriceTable
from streamrouter.llm.retry import RetryPolicy
from streamrouter.sim.scenario import Scenario
from streamrouter.sim.server import serve

OPUS, SONNET = "claude-opus-4-7", "claude-sonnet-4-6"
BUDGET_S = 3.0
ATTEMPT_TIMEOUT_S = 2.0
CALL = ModelCall(
    messages=[{"role": "user", "content": "hi"}],
    max_tokens=100,
    tool={
        "name": "submit_answer",
        "input_schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
    },
)


class SilentServer:
    """Accepts each connection, reads the request, and says nothing until the client leaves."""

    def __init__(self) -> None:
        self.models: list[str] = []  # the model of each request read, in order
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._listen, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _listen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            self.models.append(json.loads(await reader.readexactly(length))["model"])
            await reader.read()  # until the client gives up and closes the connection
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
async def silent(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SilentServer]:
    async with SilentServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        yield server


def gateway() -> ModelGateway:
    retry = RetryPolicy(max_retries=2, attempt_timeout_s=ATTEMPT_TIMEOUT_S, budget_s=BUDGET_S)
    return ModelGateway(create_anthropic_client(), PriceTable.default(), retry=retry)


async def test_a_silent_provider_ends_in_a_timeout_within_the_budget(silent: SilentServer) -> None:
    models = gateway()
    started = time.monotonic()
    try:
        with pytest.raises(ChainExhaustedError) as info:
            await call_with_fallback(models, Cooldowns(), (OPUS, SONNET), CALL)
    finally:
        await models.close()
    elapsed = time.monotonic() - started

    assert BUDGET_S - 0.5 < elapsed < BUDGET_S + 1.5
    assert info.value.error_type == "timeout"
    # One request to opus (a timeout is not retried on the same model), then the fallback,
    # which gets what the budget has left (1 s) rather than a whole attempt timeout.
    assert silent.models == [OPUS, SONNET]
    assert [(f.model, f.error.error_type) for f in info.value.failures] == [
        (OPUS, "timeout"),
        (SONNET, "timeout"),
    ]


async def test_overloaded_is_retried_on_the_same_model_after_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = Scenario.from_data(
        {"rules": [{"match": "hi", "error": "overloaded", "times": 2, "retry_after": 0.2}]}
    )
    async with serve(scenario) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        models = gateway()
        try:
            result = await call_with_fallback(models, Cooldowns(), (OPUS, SONNET), CALL)
        finally:
            await models.close()
        calls = sim.calls

    assert (result.reply.model, result.fallback_used, result.failures) == (OPUS, False, ())
    assert [(c["model"], c["status"]) for c in calls] == [(OPUS, 529), (OPUS, 529), (OPUS, 200)]
    gaps = [after["at"] - before["at"] for before, after in pairwise(calls)]
    assert all(gap >= 0.2 * 0.95 for gap in gaps)


async def test_a_retry_after_past_the_budget_goes_to_the_next_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = {"match": "hi", "model": "claude-opus-*", "error": "overloaded", "retry_after": 10}
    async with serve(Scenario.from_data({"rules": [rule]})) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        models = gateway()
        started = time.monotonic()
        try:
            result = await call_with_fallback(models, Cooldowns(), (OPUS, SONNET), CALL)
        finally:
            await models.close()
        elapsed = time.monotonic() - started
        calls = sim.calls

    assert elapsed < BUDGET_S  # no 10 s sleep on a 3 s budget
    assert (result.reply.model, result.fallback_used) == (SONNET, True)
    assert [(f.model, f.error.error_type) for f in result.failures] == [(OPUS, "overloaded")]
    assert [(c["model"], c["status"]) for c in calls] == [(OPUS, 529), (SONNET, 200)]
