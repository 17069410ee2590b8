"""The simulator's own routes: ``GET /_sim/calls``, ``POST /_sim/reset``, ``GET /healthz``."""

from __future__ import annotations

from aiohttp import web

from streamrouter.sim.batch_routes import settle_batches
from streamrouter.sim.state import STATE_KEY

__all__ = ["healthz", "list_calls", "reset"]


async def list_calls(request: web.Request) -> web.Response:
    """Every call so far, batch requests due by now included."""
    state = request.app[STATE_KEY]
    settle_batches(state)
    return web.json_response(state.calls)


async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
