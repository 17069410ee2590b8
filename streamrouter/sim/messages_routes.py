"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

A call is authenticated and parsed, meets its rule (``choose_rule``: an injected fault
first, else the scenario's rules), waits the rule's latency, and is answered with the
rule's error, or never (``timeout``), or with a message (``answer_message``: replayed,
or built by the rule or the simulator). The batch routes answer each batch request by
the same ``choose_rule`` and ``answer_message``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from streamrouter.sim.replay import replay_reply
from streamrouter.sim.reply import build_message, error_response
from streamrouter.sim.request import SimRequest, parse_count_request, parse_request
from streamrouter.sim.scenario import Rule, select_rule
from streamrouter.sim.state import (
    STATE_KEY,
    Call,
    SimState,
    api_error,
    is_authenticated,
    new_id,
    read_json,
    record_call,
    retry_count,
)

__all__ = ["answer_message", "choose_rule", "count_tokens", "create_message"]

HANG_SECONDS = 600.0  # a ``timeout`` rule: far longer than any sane client timeout


async def create_message(request: web.Request) -> web.Response:
    """``POST /v1/messages``."""
    state = request.app[STATE_KEY]
    request_id = new_id("req_")
    body = await read_json(request)
    call = Call(body, retry_count(request))
    try:
        sim_request: SimRequest | None = parse_request(body)
        problem = ""
    except ValueError as exc:
        sim_request, problem = None, str(exc)
    if not is_authenticated(request):
        record_call(state, call, sim_request, 401)
        return api_error(401, "authentication_error", "invalid x-api-key", request_id)
    if sim_request is None:
        record_call(state, call, None, 400)
        return api_error(400, "invalid_request_error", problem, request_id)

    state.in_flight += 1
    try:
        return await _answer(state, call, sim_request, request_id)
    finally:
        state.in_flight -= 1


async def _answer(
    state: SimState, call: Call, sim_request: SimRequest, request_id: str
) -> web.Response:
    rule = choose_rule(state, sim_request)
    latency = state.scenario.latency_ms
    if rule is not None and rule.latency_ms is not None:
        latency = rule.latency_ms
    delay = latency.sample_seconds(state.rng)
    if rule is not None and rule.error == "timeout":
        record_call(state, call, sim_request, None)
        await _hang(state)
        return api_error(500, "api_error", "simulated timeout ended by shutdown", request_id)
    if rule is not None and rule.error is not None:
        status, error_body, headers = error_response(rule.error, rule.retry_after, request_id)
        record_call(state, call, sim_request, status)
        await asyncio.sleep(delay)
        return web.json_response(
            error_body, status=status, headers={"request-id": request_id, **headers}
        )
    message = answer_message(state, call, sim_request, rule)
    record_call(state, call, sim_request, 200)
    await asyncio.sleep(delay)
    return web.json_response(message, headers={"request-id": request_id})


async def _hang(state: SimState) -> None:
    """Sleep like a stuck upstream, until the server stops (or the client goes away)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.stopping.wait(), HANG_SECONDS)


def choose_rule(state: SimState, sim_request: SimRequest) -> Rule | None:
    """The rule a call meets: an injected fault if one is drawn, else the scenario's rule."""
    return _injected_fault(state, sim_request) or select_rule(
        state.scenario, state.counters, sim_request.model, sim_request.last_user
    )


def _injected_fault(state: SimState, sim_request: SimRequest) -> Rule | None:
    """The scenario's ``faults`` are drawn before any rule; a fault acts as an error rule."""
    kind = state.faults.draw(sim_request.model, sim_request.last_user)
    if kind is None or state.scenario.faults is None:
        return None
    return Rule(match="", error=kind, retry_after=state.scenario.faults.retry_after)


def answer_message(
    state: SimState, call: Call, sim_request: SimRequest, rule: Rule | None
) -> dict[str, Any]:
    """The ``message`` answering a call that no error rule stopped (replay, rule or sim)."""
    message_id, tool_use_id = new_id("msg_"), new_id("toolu_")
    recorded = None
    if rule is None and state.replay is not None:
        recorded = replay_reply(
            state.replay, sim_request, message_id=message_id, tool_use_id=tool_use_id
        )
    message = recorded or build_message(
        sim_request, rule, message_id=message_id, tool_use_id=tool_use_id
    )
    message["usage"] = state.cache.account(sim_request.model, call.body, message["usage"])
    return message


async def count_tokens(request: web.Request) -> web.Response:
    """``POST /v1/messages/count_tokens``."""
    request_id = new_id("req_")
    if not is_authenticated(request):
        return api_error(401, "authentication_error", "invalid x-api-key", request_id)
    try:
        input_tokens = parse_count_request(await read_json(request))
    except ValueError as exc:
        return api_error(400, "invalid_request_error", str(exc), request_id)
    return web.json_response({"input_tokens": input_tokens}, headers={"request-id": request_id})
