"""The simulated Anthropic Messages API over HTTP (aiohttp): a thin shell around ``reply``.

Endpoints:

* ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``, like the real API
  (bodies up to 32 MB; a larger one is a 413 ``request_too_large``);
* the Message Batches API (state and shapes in :mod:`streamrouter.sim.batches`):
  ``POST /v1/messages/batches`` (create), ``GET /v1/messages/batches`` (list, newest
  first), ``GET /v1/messages/batches/{id}`` (retrieve), ``GET .../{id}/results`` (JSONL),
  ``POST .../{id}/cancel`` and ``DELETE .../{id}`` (an ended batch only). Each request
  of a batch is answered when it is processed, by the same rules as a
  ``/v1/messages`` call with its ``params``;
* ``GET /_sim/calls`` (every ``/v1/messages`` call so far: model, kind, last_user, status,
  retry (the client's ``x-stainless-retry-count``, 0 for a first try), in_flight, at
  (epoch seconds), batch (the batch id for a batch request, else null); status is null
  for a ``timeout`` call, which never answers) and ``POST /_sim/reset``. A batch request
  that reaches the model is a call (status as a ``/v1/messages`` call would have had,
  400 for invalid params); an ``expired`` or ``canceled`` one is not;
* ``GET /healthz``.

``SimServer`` owns the listening server (``start``/``stop``, or ``async with``);
``serve`` is the context-manager shorthand; ``run_sim`` runs one until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from streamrouter.sim.batches import (
    Batch,
    BatchItem,
    advance,
    batch_object,
    cancel,
    errored_result,
    expired_result,
    page_batches,
    parse_batch_create,
    results_lines,
    succeeded_result,
)
from streamrouter.sim.cache import PromptCache
from streamrouter.sim.faults import FaultInjector
from streamrouter.sim.replay import ReplayBook, replay_reply
from streamrouter.sim.reply import api_error_body, build_message, error_response
from streamrouter.sim.request import (
    SimRequest,
    last_user_text,
    parse_count_request,
    parse_request,
)
from streamrouter.sim.scenario import Rule, RuleCounters, Scenario, select_rule

__all__ = ["SimServer", "create_app", "run_sim", "serve"]

MAX_REQUEST_BYTES = 32 * 1024 * 1024  # the Messages API's request size limit
HANG_SECONDS = 600.0  # a ``timeout`` rule: far longer than any sane client timeout
SHUTDOWN_TIMEOUT = 2.0


@dataclass
class _SimState:
    scenario: Scenario
    counters: RuleCounters = field(default_factory=RuleCounters)
    calls: list[dict[str, Any]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0  # calls being served right now, to show clients call concurrently
    replay: ReplayBook | None = None  # the scenario's recorded answers, loaded once
    faults: FaultInjector = field(init=False)
    cache: PromptCache = field(default_factory=PromptCache)
    batches: dict[str, Batch] = field(default_factory=dict)  # by id, oldest first

    def __post_init__(self) -> None:
        self.faults = FaultInjector(self.scenario.faults)

    def reset(self) -> None:
        self.calls.clear()
        self.counters.reset()
        self.rng.seed(0)
        self.faults.reset()
        self.cache.clear()
        self.batches.clear()


_STATE = web.AppKey("streamrouter_sim_state", _SimState)


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _authenticated(request: web.Request) -> bool:
    """Any non-empty ``x-api-key``, or ``Authorization: Bearer <token>``.

    The installed anthropic SDK (2.14) sends ``api_key`` as a Bearer token.
    """
    if request.headers.get("x-api-key", "").strip():
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _error(status: int, error_type: str, message: str, request_id: str) -> web.Response:
    body = api_error_body(error_type, message, request_id)
    return web.json_response(body, status=status, headers={"request-id": request_id})


@web.middleware
async def _request_too_large(request: web.Request, handler: Any) -> web.StreamResponse:
    """A body over ``MAX_REQUEST_BYTES`` is the API's 413 ``request_too_large`` error."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        message = "Request exceeds the maximum allowed number of bytes."
        return _error(413, "request_too_large", message, _new_id("req_"))


async def _read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


@dataclass(frozen=True)
class _Call:
    body: Any
    retry: int  # how many times the client says it tried this call before
    batch: str | None = None  # the batch id, for a request of a message batch


def _retry_count(request: web.Request) -> int:
    try:
        return int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        return 0


def _record(
    state: _SimState, call: _Call, sim_request: SimRequest | None, status: int | None
) -> None:
    if sim_request is not None:
        model: Any = sim_request.model
        kind, last_user = sim_request.kind, sim_request.last_user
    else:
        body = call.body if isinstance(call.body, dict) else {}
        messages = body.get("messages")
        model, kind = body.get("model"), "text"
        last_user = last_user_text(messages) if isinstance(messages, list) else ""
    state.calls.append(
        {
            "model": model,
            "kind": kind,
            "last_user": last_user,
            "status": status,
            "retry": call.retry,
            "in_flight": state.in_flight,
            "at": time.time(),
            "batch": call.batch,
        }
    )


async def _hang(state: _SimState) -> None:
    """Sleep like a stuck upstream, until the server stops (or the client goes away)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.stopping.wait(), HANG_SECONDS)


async def _messages(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    request_id = _new_id("req_")
    body = await _read_json(request)
    call = _Call(body, _retry_count(request))
    try:
        sim_request: SimRequest | None = parse_request(body)
        problem = ""
    except ValueError as exc:
        sim_request, problem = None, str(exc)
    if not _authenticated(request):
        _record(state, call, sim_request, 401)
        return _error(401, "authentication_error", "invalid x-api-key", request_id)
    if sim_request is None:
        _record(state, call, None, 400)
        return _error(400, "invalid_request_error", problem, request_id)

    state.in_flight += 1
    try:
        return await _answer(state, call, sim_request, request_id)
    finally:
        state.in_flight -= 1


async def _answer(
    state: _SimState, call: _Call, sim_request: SimRequest, request_id: str
) -> web.Response:
    rule = _injected_fault(state, sim_request) or select_rule(
        state.scenario, state.counters, sim_request.model, sim_request.last_user
    )
    latency = state.scenario.latency_ms
    if rule is not None and rule.latency_ms is not None:
        latency = rule.latency_ms
    delay = latency.sample_seconds(state.rng)
    if rule is not None and rule.error == "timeout":
        _record(state, call, sim_request, None)
        await _hang(state)
        return _error(500, "api_error", "simulated timeout ended by shutdown", request_id)
    if rule is not None and rule.error is not None:
        status, error_body, headers = error_response(rule.error, rule.retry_after, request_id)
        _record(state, call, sim_request, status)
        await asyncio.sleep(delay)
        return web.json_response(
            error_body, status=status, headers={"request-id": request_id, **headers}
        )
    message = _message(state, call, sim_request, rule)
    _record(state, call, sim_request, 200)
    await asyncio.sleep(delay)
    return web.json_response(message, headers={"request-id": request_id})


def _message(
    state: _SimState, call: _Call, sim_request: SimRequest, rule: Rule | None
) -> dict[str, Any]:
    """The ``message`` answering a call that no error rule stopped (replay, rule or sim)."""
    message_id, tool_use_id = _new_id("msg_"), _new_id("toolu_")
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


def _injected_fault(state: _SimState, sim_request: SimRequest) -> Rule | None:
    """The scenario's ``faults`` are drawn before any rule; a fault acts as an error rule."""
    kind = state.faults.draw(sim_request.model, sim_request.last_user)
    if kind is None or state.scenario.faults is None:
        return None
    return Rule(match="", error=kind, retry_after=state.scenario.faults.retry_after)


async def _count_tokens(request: web.Request) -> web.Response:
    request_id = _new_id("req_")
    if not _authenticated(request):
        return _error(401, "authentication_error", "invalid x-api-key", request_id)
    try:
        input_tokens = parse_count_request(await _read_json(request))
    except ValueError as exc:
        return _error(400, "invalid_request_error", str(exc), request_id)
    return web.json_response({"input_tokens": input_tokens}, headers={"request-id": request_id})


def _batch_result(state: _SimState, batch_id: str, item: BatchItem) -> dict[str, Any]:
    """What one batch request ends as, by the rules a ``/v1/messages`` call would meet."""
    call = _Call(item.params, retry=0, batch=batch_id)
    request_id = _new_id("req_")
    try:
        sim_request = parse_request(item.params)
    except ValueError as exc:
        _record(state, call, None, 400)
        return errored_result(api_error_body("invalid_request_error", str(exc), request_id))
    if state.scenario.batches.expires(sim_request.last_user):
        return expired_result()
    rule = _injected_fault(state, sim_request) or select_rule(
        state.scenario, state.counters, sim_request.model, sim_request.last_user
    )
    if rule is not None and rule.error == "timeout":  # never answers: left to expire
        return expired_result()
    if rule is not None and rule.error is not None:
        status, error_body, _ = error_response(rule.error, rule.retry_after, request_id)
        _record(state, call, sim_request, status)
        return errored_result(error_body)
    message = _message(state, call, sim_request, rule)
    _record(state, call, sim_request, 200)
    return succeeded_result(message)


def _settle_batches(state: _SimState) -> float:
    """Process every batch request due by now; returns now (the server's clock)."""
    now = time.time()
    for batch in state.batches.values():
        advance(batch, now, lambda item, batch_id=batch.id: _batch_result(state, batch_id, item))
    return now


class _Refusal(Exception):
    """An API error answer from a batch route: status, error type and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type = status, error_type


_BatchHandler = Callable[[web.Request, _SimState, float], Awaitable[web.StreamResponse]]


def _batch_route(handler: _BatchHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Authenticate, bring every batch up to now, and turn a ``_Refusal`` into the API error."""

    async def route(request: web.Request) -> web.StreamResponse:
        request_id = _new_id("req_")
        if not _authenticated(request):
            return _error(401, "authentication_error", "invalid x-api-key", request_id)
        state = request.app[_STATE]
        try:
            response = await handler(request, state, _settle_batches(state))
        except _Refusal as refusal:
            return _error(refusal.status, refusal.error_type, str(refusal), request_id)
        response.headers["request-id"] = request_id
        return response

    return route


def _find_batch(request: web.Request, state: _SimState) -> Batch:
    batch_id = request.match_info["batch_id"]
    if batch_id not in state.batches:
        raise _Refusal(404, "not_found_error", f"No message batch with id {batch_id}")
    return state.batches[batch_id]


def _batch_json(request: web.Request, batch: Batch, now: float) -> dict[str, Any]:
    results_url = f"{request.url.origin()}/v1/messages/batches/{batch.id}/results"
    return batch_object(batch, now, results_url)


@_batch_route
async def _create_batch(request: web.Request, state: _SimState, now: float) -> web.Response:
    try:
        items = parse_batch_create(await _read_json(request))
    except ValueError as exc:
        raise _Refusal(400, "invalid_request_error", str(exc)) from exc
    batch_id = _new_id("msgbatch_")
    processing_s = state.scenario.batches.processing_s
    state.batches[batch_id] = Batch(batch_id, items, created_at=now, processing_s=processing_s)
    return web.json_response(_batch_json(request, state.batches[batch_id], now))


@_batch_route
async def _list_batches(request: web.Request, state: _SimState, now: float) -> web.Response:
    try:
        page = page_batches(list(reversed(state.batches.values())), request.query)
    except ValueError as exc:
        raise _Refusal(400, "invalid_request_error", str(exc)) from exc
    data = [_batch_json(request, batch, now) for batch in page.batches]
    return web.json_response(
        {
            "data": data,
            "has_more": page.has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


@_batch_route
async def _retrieve_batch(request: web.Request, state: _SimState, now: float) -> web.Response:
    return web.json_response(_batch_json(request, _find_batch(request, state), now))


@_batch_route
async def _batch_results(request: web.Request, state: _SimState, now: float) -> web.Response:
    batch = _find_batch(request, state)
    if batch.status(now) != "ended":
        message = f"Message batch {batch.id} has not finished processing; no results yet"
        raise _Refusal(400, "invalid_request_error", message)
    lines = "".join(json.dumps(line) + "\n" for line in results_lines(batch))
    return web.Response(body=lines.encode(), content_type="application/binary")


@_batch_route
async def _cancel_batch(request: web.Request, state: _SimState, now: float) -> web.Response:
    batch = _find_batch(request, state)
    try:
        cancel(batch, now, lambda item: _batch_result(state, batch.id, item))
    except ValueError as exc:
        raise _Refusal(400, "invalid_request_error", str(exc)) from exc
    return web.json_response(_batch_json(request, batch, now))


@_batch_route
async def _delete_batch(request: web.Request, state: _SimState, now: float) -> web.Response:
    batch = _find_batch(request, state)
    if batch.status(now) != "ended":
        message = f"Message batch {batch.id} is still processing; cancel it before deleting"
        raise _Refusal(400, "invalid_request_error", message)
    del state.batches[batch.id]
    return web.json_response({"id": batch.id, "type": "message_batch_deleted"})


async def _calls(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    _settle_batches(state)
    return web.json_response(state.calls)


async def _reset(request: web.Request) -> web.Response:
    request.app[_STATE].reset()
    return web.json_response({"ok": True})


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _release_hanging(app: web.Application) -> None:
    app[_STATE].stopping.set()


def create_app(scenario: Scenario | None = None) -> web.Application:
    """The simulator as an aiohttp application (all state lives in the app)."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_request_too_large])
    scenario = scenario or Scenario()
    replay = ReplayBook.load(scenario.replay) if scenario.replay is not None else None
    app[_STATE] = _SimState(scenario, replay=replay)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_post("/v1/messages/count_tokens", _count_tokens)
    app.router.add_post("/v1/messages/batches", _create_batch)
    app.router.add_get("/v1/messages/batches", _list_batches)
    app.router.add_get("/v1/messages/batches/{batch_id}", _retrieve_batch)
    app.router.add_delete("/v1/messages/batches/{batch_id}", _delete_batch)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", _batch_results)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", _cancel_batch)
    app.router.add_get("/_sim/calls", _calls)
    app.router.add_post("/_sim/reset", _reset)
    app.router.add_get("/healthz", _healthz)
    app.on_shutdown.append(_release_hanging)
    return app


class SimServer:
    """One listening simulator. ``port=0`` picks a free port; ``port`` is the bound one.

    Single use: ``start()`` once (a second call does nothing), ``stop()`` any number of times.
    """

    def __init__(
        self, scenario: Scenario | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.host = host
        self.app = create_app(scenario)
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give ``anthropic.AsyncAnthropic(base_url=...)``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def calls(self) -> list[dict[str, Any]]:
        """A copy of the call log (what ``GET /_sim/calls`` returns)."""
        state = self.app[_STATE]
        _settle_batches(state)
        return [dict(call) for call in state.calls]

    def reset(self) -> None:
        self.app[_STATE].reset()

    async def start(self) -> None:
        if self._stopped:
            raise RuntimeError("a stopped SimServer cannot be restarted; create a new one")
        if self._runner is not None:
            return
        runner = web.AppRunner(
            self.app, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and release any hanging ``timeout`` calls; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self._stopped = True
            await runner.cleanup()

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def serve(
    scenario: Scenario | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SimServer]:
    """Run a simulator for the duration of the block; yields it started (see ``.port``)."""
    async with SimServer(scenario, host=host, port=port) as server:
        yield server


async def _run_until_signalled(scenario: Scenario, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(scenario, host, port) as server:
            print(f"streamrouter sim listening on {server.url}", flush=True)
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run_sim(host: str, port: int, scenario_path: str | Path | None) -> None:
    """Serve until SIGINT/SIGTERM, printing ``streamrouter sim listening on URL`` once bound.

    Raises ``ConfigError`` for a bad scenario file before anything listens.
    """
    scenario = Scenario.load(scenario_path) if scenario_path is not None else Scenario()
    asyncio.run(_run_until_signalled(scenario, host, port))
