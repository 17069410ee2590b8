"""The simulator over HTTP, driven through the real anthropic SDK (and raw aiohttp)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
from anthropic.types import TextBlock, ToolUseBlock

from streamrouter.sim import Scenario, serve

from .conftest import MakeClient, StartSim, answer_args, classify_args, user

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"
ENV_BUFFERED = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}


def tool_input(message: anthropic.types.Message) -> dict[str, Any]:
    (block,) = message.content
    assert isinstance(block, ToolUseBlock)
    assert block.id.startswith("toolu_")
    return block.input


async def get_json(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, **kwargs) as response,
    ):
        return response.status, await response.json()


async def test_forced_classification_honours_the_rule(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(
        rules=[{"match": "(?i)commit", "complexity": "simple", "confidence": 0.9}]
    )
    client = make_client(sim)
    raw = await client.messages.with_raw_response.create(**classify_args("Write a COMMIT message"))
    assert raw.headers["request-id"].startswith("req_")
    message = await raw.parse()
    assert message.id.startswith("msg_")
    assert message.model == HAIKU
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "tool_use" and message.content[0].name == "classify_request"
    assert tool_input(message)["complexity"] == "simple"
    assert tool_input(message)["confidence"] == 0.9
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0


async def test_forced_answer_honours_answer_and_confidence(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(rules=[{"match": "commit", "answer": "fix: x", "confidence": 0.42}])
    message = await make_client(sim).messages.create(**answer_args("commit message", OPUS))
    assert message.stop_reason == "tool_use"
    payload = tool_input(message)
    assert payload["answer"] == "fix: x"
    assert payload["confidence"] == 0.42
    assert isinstance(payload["reasoning"], str)


async def test_model_glob_selects_the_rule(start_sim: StartSim, make_client: MakeClient) -> None:
    sim = await start_sim(
        rules=[
            {"match": "route me", "model": "claude-haiku-*", "answer": "from haiku rule"},
            {"match": "route me", "answer": "from catch-all rule"},
        ]
    )
    client = make_client(sim)
    on_haiku = await client.messages.create(**answer_args("route me", HAIKU))
    on_opus = await client.messages.create(**answer_args("route me", OPUS))
    assert tool_input(on_haiku)["answer"] == "from haiku rule"
    assert tool_input(on_opus)["answer"] == "from catch-all rule"


async def test_times_fails_twice_then_falls_through_and_reset_rearms(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(
        rules=[
            {"match": "BUSY", "model": "claude-opus-*", "error": "overloaded", "times": 2},
            {"match": "BUSY", "answer": "recovered", "confidence": 0.99},
        ]
    )
    client = make_client(sim)
    for _ in range(2):
        with pytest.raises(anthropic.OverloadedError) as caught:
            await client.messages.create(**answer_args("BUSY", OPUS))
        assert caught.value.status_code == 529
        assert caught.value.type == "overloaded_error"
        assert caught.value.response.headers["retry-after"] == "1"
    message = await client.messages.create(**answer_args("BUSY", OPUS))
    assert tool_input(message)["answer"] == "recovered"

    status, calls = await get_json(f"{sim.url}/_sim/calls")
    assert status == 200
    assert [(c["model"], c["kind"], c["last_user"], c["status"]) for c in calls] == [
        (OPUS, "answer", "BUSY", 529),
        (OPUS, "answer", "BUSY", 529),
        (OPUS, "answer", "BUSY", 200),
    ]
    status, _ = await get_json(f"{sim.url}/_sim/reset", method="POST")
    assert status == 200
    assert sim.calls == []
    with pytest.raises(anthropic.OverloadedError):
        await client.messages.create(**answer_args("BUSY", OPUS))


async def test_calls_record_the_clients_retry_count(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(
        rules=[
            {"match": "BUSY", "error": "overloaded", "times": 2, "retry_after": 0.01},
            {"match": "BUSY", "answer": "recovered"},
        ]
    )
    await make_client(sim, max_retries=2).messages.create(**answer_args("BUSY", OPUS))
    await make_client(sim).messages.create(**answer_args("BUSY", OPUS))
    _, calls = await get_json(f"{sim.url}/_sim/calls")
    assert [(c["status"], c["retry"]) for c in calls] == [(529, 0), (529, 1), (200, 2), (200, 0)]


async def test_rate_limited_is_a_429_with_retry_after(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(rules=[{"match": "quota", "error": "rate_limited", "retry_after": 3}])
    with pytest.raises(anthropic.RateLimitError) as caught:
        await make_client(sim).messages.create(**classify_args("over quota"))
    error = caught.value
    assert error.status_code == 429
    assert error.type == "rate_limit_error"
    assert error.response.headers["retry-after"] == "3"
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert isinstance(error.body, dict) and error.body["type"] == "error"


async def test_server_error_is_a_500_api_error(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim(rules=[{"match": "boom", "error": "server_error"}])
    with pytest.raises(anthropic.InternalServerError) as caught:
        await make_client(sim).messages.create(**answer_args("boom"))
    assert not isinstance(caught.value, anthropic.OverloadedError)
    assert caught.value.status_code == 500
    assert caught.value.type == "api_error"
    assert "retry-after" not in caught.value.response.headers


async def test_timeout_rule_trips_the_client_timeout_and_shutdown_is_prompt(
    make_client: MakeClient,
) -> None:
    scenario = Scenario.from_data({"rules": [{"match": "stuck", "error": "timeout"}]})
    async with serve(scenario) as sim:
        client = make_client(sim, timeout=0.3)
        hanging = asyncio.create_task(
            make_client(sim, timeout=60).messages.create(**answer_args("stuck again"))
        )
        with pytest.raises(anthropic.APITimeoutError):
            await client.messages.create(**answer_args("stuck"))
        while len(sim.calls) < 2:  # the second client's call is in and hanging
            await asyncio.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 1.5
    assert [call["status"] for call in sim.calls] == [None, None]
    # released by the shutdown (an error response or a dropped connection), not after 600 s
    with pytest.raises((anthropic.APIStatusError, anthropic.APIConnectionError)):
        await asyncio.wait_for(hanging, 2)


async def test_max_tokens_stop_reason_truncates(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    long_answer = "The answer is forty-two, and here is why. " * 5
    sim = await start_sim(
        rules=[{"match": "cut", "answer": long_answer, "stop_reason": "max_tokens"}]
    )
    client = make_client(sim)
    forced = await client.messages.create(**answer_args("cut this", max_tokens=300))
    assert forced.stop_reason == "max_tokens"
    assert forced.content[0].type == "tool_use"
    cut = tool_input(forced)["answer"]
    assert long_answer.startswith(cut) and len(cut) < len(long_answer)
    assert forced.usage.output_tokens == 300

    plain = await client.messages.create(model=SONNET, max_tokens=300, messages=user("cut"))
    assert plain.stop_reason == "max_tokens"
    (block,) = plain.content
    assert isinstance(block, TextBlock)
    assert long_answer.startswith(block.text) and len(block.text) < len(long_answer)


async def test_json_schema_output_mode(start_sim: StartSim, make_client: MakeClient) -> None:
    sim = await start_sim(rules=[{"match": "schema", "complexity": "hard", "answer": "42"}])
    client = make_client(sim)
    classify_schema = {
        "type": "object",
        "properties": {
            "complexity": {"type": "string", "enum": ["simple", "medium", "hard"]},
            "confidence": {"type": "number"},
            "reason": {"type": "string"},
        },
        "required": ["complexity", "confidence", "reason"],
        "additionalProperties": False,
    }
    answer_schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    }
    results = []
    for schema in (classify_schema, answer_schema):
        message = await client.messages.create(
            model=HAIKU,
            max_tokens=500,
            messages=user("json schema please"),
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
        assert message.stop_reason == "end_turn"
        (block,) = message.content
        assert isinstance(block, TextBlock)
        results.append(json.loads(block.text))
    assert results[0]["complexity"] == "hard" and 0 <= results[0]["confidence"] <= 1
    assert results[1]["answer"] == "42" and 0 <= results[1]["confidence"] <= 1
    assert [call["kind"] for call in sim.calls] == ["classify", "answer"]


async def test_default_simulation_is_deterministic_over_http(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    client = make_client(await start_sim())
    prompt = "Design a distributed rate limiter and explain the trade-offs."
    first = tool_input(await client.messages.create(**answer_args(prompt, HAIKU)))
    again = tool_input(await client.messages.create(**answer_args(prompt, HAIKU)))
    on_opus = tool_input(await client.messages.create(**answer_args(prompt, OPUS)))
    assert first == again
    assert on_opus["confidence"] >= first["confidence"]
    assert first["answer"].startswith(f"[{HAIKU}] ")
    plain = await client.messages.create(model=SONNET, max_tokens=500, messages=user(prompt))
    assert plain.stop_reason == "end_turn"
    assert plain.content[0].type == "text"
    assert plain.content[0].text.startswith(f"[{SONNET}] ")


async def test_missing_api_key_is_a_401(start_sim: StartSim, make_client: MakeClient) -> None:
    sim = await start_sim()
    client = make_client(sim, default_headers={"Authorization": anthropic.omit})
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await client.messages.create(**classify_args("hello"))
    assert caught.value.type == "authentication_error"
    status, body = await get_json(
        f"{sim.url}/v1/messages", method="POST", json=classify_args("hello")
    )
    assert status == 401
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    status, body = await get_json(
        f"{sim.url}/v1/messages",
        method="POST",
        json=classify_args("hello"),
        headers={"x-api-key": "any"},
    )
    assert status == 200 and body["type"] == "message"
    assert [call["status"] for call in sim.calls] == [401, 401, 200]


async def test_bad_requests_are_400_invalid_request_error(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    sim = await start_sim()
    headers = {"x-api-key": "k"}
    url = f"{sim.url}/v1/messages"
    status, body = await get_json(url, method="POST", json={"model": HAIKU}, headers=headers)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "messages" in body["error"]["message"]
    status, body = await get_json(url, method="POST", data="not json", headers=headers)
    assert status == 400
    with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
        await make_client(sim).messages.create(
            **{**classify_args("x"), "tool_choice": {"type": "tool", "name": "missing"}}
        )


async def test_count_tokens_uses_the_same_estimate(
    start_sim: StartSim, make_client: MakeClient
) -> None:
    client = make_client(await start_sim())
    args = classify_args("count these tokens " * 20)
    counted = await client.messages.count_tokens(
        model=args["model"], messages=args["messages"], tools=args["tools"]
    )
    message = await client.messages.create(**args)
    assert counted.input_tokens == message.usage.input_tokens > 0


async def test_latency_is_applied(start_sim: StartSim, make_client: MakeClient) -> None:
    sim = await start_sim(
        latency_ms={"mean": 60, "jitter": 10}, rules=[{"match": "quick", "latency_ms": 0}]
    )
    client = make_client(sim)
    started = time.monotonic()
    await client.messages.create(**answer_args("slow"))
    assert time.monotonic() - started >= 0.045
    started = time.monotonic()
    await client.messages.create(**answer_args("quick"))
    assert time.monotonic() - started < 0.045


async def test_healthz(start_sim: StartSim) -> None:
    sim = await start_sim()
    assert await get_json(f"{sim.url}/healthz") == (200, {"status": "ok"})


async def test_run_sim_prints_the_bound_port_and_stops_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamrouter.sim",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        env=ENV_BUFFERED,  # stdout is a pipe, so only an explicit flush gets the line out
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        found = re.fullmatch(r"streamrouter sim listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert found is not None, line
        assert int(found.group(2)) > 0
        assert await get_json(f"{found.group(1)}/healthz") == (200, {"status": "ok"})
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 5) == 0


async def test_run_sim_refuses_a_bad_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("rules:\n  - match: x\n    error: melted\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamrouter.sim",
        "--scenario",
        str(scenario),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=ENV_BUFFERED,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 2
    assert stdout == b""
    assert b"rules[0].error" in stderr


async def test_a_stopped_server_cannot_restart(start_sim: StartSim) -> None:
    sim = await start_sim()
    await sim.stop()
    await sim.stop()
    with pytest.raises(RuntimeError, match="cannot be restarted"):
        await sim.start()
