"""The Message Batches routes (state and shapes in :mod:`streamrouter.sim.batches`).

Every route goes through ``_batch_route``: authenticate, bring every batch up to now
(``settle_batches``, which answers each request due by the same rules as a
``/v1/messages`` call), run the handler, and turn a ``_Refusal`` into the API's error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
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
from streamrouter.sim.messages_routes import answer_message, choose_rule
from streamrouter.sim.reply import api_error_body, error_response
from streamrouter.sim.request import parse_request
from streamrouter.sim.state import (
    STATE_KEY,
    Call,
    SimState,
    api_error,
    is_authenticated,
    new_id,
    read_json,
    record_call,
)

__all__ = [
    "batch_results",
    "cancel_batch",
    "create_batch",
    "delete_batch",
    "list_batches",
    "retrieve_batch",
    "settle_batches",
]


def _batch_result(state: SimState, batch_id: str, item: BatchItem) -> dict[str, Any]:
    """What one batch request ends as, by the rules a ``/v1/messages`` call would meet."""
    call = Call(item.params, retry=0, batch=batch_id)
    request_id = new_id("req_")
    try:
        sim_request = parse_request(item.params)
    except ValueError as exc:
        record_call(state, call, None, 400)
        return errored_result(api_error_body("invalid_request_error", str(exc), request_id))
    if state.scenario.batches.expires(sim_request.last_user):
        return expired_result()
    rule = choose_rule(state, sim_request)
    if rule is not None and rule.error == "timeout":  # never answers: left to expire
        return expired_result()
    if rule is not None and rule.error is not None:
        status, error_body, _ = error_response(rule.error, rule.retry_after, request_id)
        record_call(state, call, sim_request, status)
        return errored_result(error_body)
    message = answer_message(state, call, sim_request, rule)
    record_call(state, call, sim_request, 200)
    return succeeded_result(message)


def settle_batches(state: SimState) -> float:
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


_BatchHandler = Callable[[web.Request, SimState, float], Awaitable[web.StreamResponse]]


def _batch_route(handler: _BatchHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Authenticate, bring every batch up to now, and turn a ``_Refusal`` into the API error."""

    async def route(request: web.Request) -> web.StreamResponse:
        request_id = new_id("req_")
        if not is_authenticated(request):
            return api_error(401, "authentication_error", "invalid x-api-key", request_id)
        state = request.app[STATE_KEY]
        try:
            response = await handler(request, state, settle_batches(state))
        except _Refusal as refusal:
            return api_error(refusal.status, refusal.error_type, str(refusal), request_id)
        response.headers["request-id"] = request_id
        return response

    return route


def _find_batch(request: web.Request, state: SimState) -> Batch:
    batch_id = request.match_info["batch_id"]
    if batch_id not in state.batches:
        raise _Refusal(404, "not_found_error", f"No message batch with id {batch_id}")
    return state.batches[batch_id]


def _batch_json(request: web.Request, batch: Batch, now: float) -> dict[str, Any]:
    results_url = f"{request.url.origin()}/v1/messages/batches/{batch.id}/results"
    return batch_object(batch, now, results_url)


@_batch_route
async def create_batch(request: web.Request, state: SimState, now: float) -> web.Response:
    """``POST /v1/messages/batches``."""
    try:
        items = parse_batch_create(await read_json(request))
    except ValueError as exc:
        raise _Refusal(400, "invalid_request_error", str(exc)) from exc
    batch_id = new_id("msgbatch_")
    processing_s = state.scenario.batches.processing_s
    state.batches[batch_id] = Batch(batch_id, items, created_at=now, processing_s=processing_s)
    return web.json_response(_batch_json(request, state.batches[batch_id], now))


@_batch_route
async def list_batches(request: web.Request, state: SimState, now: float) -> web.Response:
    """``GET /v1/messages/batches``, newest first."""
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
async def retrieve_batch(request: web.Request, state: SimState, now: float) -> web.Response:
    """``GET /v1/messages/batches/{batch_id}``."""
    return web.json_response(_batch_json(request, _find_batch(request, state), now))


@_batch_route
async def batch_results(request: web.Request, state: SimState, now: float) -> web.Response:
    """``GET /v1/messages/batches/{batch_id}/results`` (JSONL), once the batch has ended."""
    batch = _find_batch(request, state)
    if batch.status(now) != "ended":
        message = f"Message batch {batch.id} has not finished processing; no results yet"
        raise _Refusal(400, "invalid_request_error", message)
    lines = "".join(json.dumps(line) + "\n" for line in results_lines(batch))
    return web.Response(body=lines.encode(), content_type="application/binary")


@_batch_route
async def cancel_batch(request: web.Request, state: SimState, now: float) -> web.Response:
    """``POST /v1/messages/batches/{batch_id}/cancel``."""
    batch = _find_batch(request, state)
    try:
        cancel(batch, now, lambda item: _batch_result(state, batch.id, item))
    except ValueError as exc:
        raise _Refusal(400, "invalid_request_error", str(exc)) from exc
    return web.json_response(_batch_json(request, batch, now))


@_batch_route
async def delete_batch(request: web.Request, state: SimState, now: float) -> web.Response:
    """``DELETE /v1/messages/batches/{batch_id}``, an ended batch only."""
    batch = _find_batch(request, state)
    if batch.status(now) != "ended":
        message = f"Message batch {batch.id} is still processing; cancel it before deleting"
        raise _Refusal(400, "invalid_request_error", message)
    del state.batches[batch.id]
    return web.json_response({"id": batch.id, "type": "message_batch_deleted"})
