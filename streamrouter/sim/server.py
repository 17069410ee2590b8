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
  (epoch seconds), batch (the batch id for a batch request, else null), parameters (the
  request's temperature, top_p, top_k, stop_sequences, service_tier and metadata, those
  it sent), blocks (the block types of the last user message); status is null
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
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from streamrouter.sim import batch_routes, control_routes, messages_routes
from streamrouter.sim.batch_routes import settle_batches
from streamrouter.sim.replay import ReplayBook
from streamrouter.sim.scenario import Scenario
from streamrouter.sim.state import STATE_KEY, SimState, api_error, new_id

__all__ = ["SimServer", "create_app", "run_sim", "serve"]

MAX_REQUEST_BYTES = 32 * 1024 * 1024  # the Messages API's request size limit
SHUTDOWN_TIMEOUT = 2.0


@web.middleware
async def _request_too_large(request: web.Request, handler: Any) -> web.StreamResponse:
    """A body over ``MAX_REQUEST_BYTES`` is the API's 413 ``request_too_large`` error."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        message = "Request exceeds the maximum allowed number of bytes."
        return api_error(413, "request_too_large", message, new_id("req_"))


async def _release_hanging(app: web.Application) -> None:
    app[STATE_KEY].stopping.set()


def create_app(scenario: Scenario | None = None) -> web.Application:
    """The simulator as an aiohttp application (all state lives in the app)."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_request_too_large])
    scenario = scenario or Scenario()
    replay = ReplayBook.load(scenario.replay) if scenario.replay is not None else None
    app[STATE_KEY] = SimState(scenario, replay=replay)
    router = app.router
    router.add_post("/v1/messages", messages_routes.create_message)
    router.add_post("/v1/messages/count_tokens", messages_routes.count_tokens)
    router.add_post("/v1/messages/batches", batch_routes.create_batch)
    router.add_get("/v1/messages/batches", batch_routes.list_batches)
    router.add_get("/v1/messages/batches/{batch_id}", batch_routes.retrieve_batch)
    router.add_delete("/v1/messages/batches/{batch_id}", batch_routes.delete_batch)
    router.add_get("/v1/messages/batches/{batch_id}/results", batch_routes.batch_results)
    router.add_post("/v1/messages/batches/{batch_id}/cancel", batch_routes.cancel_batch)
    router.add_get("/_sim/calls", control_routes.list_calls)
    router.add_post("/_sim/reset", control_routes.reset)
    router.add_get("/healthz", control_routes.healthz)
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
        state = self.app[STATE_KEY]
        settle_batches(state)
        return [dict(call) for call in state.calls]

    def reset(self) -> None:
        self.app[STATE_KEY].reset()

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
