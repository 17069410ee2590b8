"""The simulator's per-app state and the helpers every route shares.

``SimState`` (kept in the app under ``STATE_KEY``) holds the scenario, the rule counters,
the call log, the batches and the rest; ``reset`` clears it for ``POST /_sim/reset``.
The helpers are what each route does alike: new ids, authentication, reading the JSON
body, the API's error answer, and recording a call in the log (``Call``, ``record_call``).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from streamrouter.sim.batches import Batch
from streamrouter.sim.cache import PromptCache
from streamrouter.sim.faults import FaultInjector
from streamrouter.sim.replay import ReplayBook
from streamrouter.sim.reply import api_error_body
from streamrouter.sim.request import SimRequest, last_user_text
from streamrouter.sim.scenario import RuleCounters, Scenario

__all__ = [
    "STATE_KEY",
    "Call",
    "SimState",
    "api_error",
    "is_authenticated",
    "last_user_block_types",
    "new_id",
    "read_json",
    "record_call",
    "retry_count",
    "sampling_parameters",
]


@dataclass
class SimState:
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


STATE_KEY = web.AppKey("streamrouter_sim_state", SimState)


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def is_authenticated(request: web.Request) -> bool:
    """Any non-empty ``x-api-key``, or ``Authorization: Bearer <token>``.

    The installed anthropic SDK (2.14) sends ``api_key`` as a Bearer token.
    """
    if request.headers.get("x-api-key", "").strip():
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def api_error(status: int, error_type: str, message: str, request_id: str) -> web.Response:
    """The API's JSON error answer, with its ``request-id`` header."""
    body = api_error_body(error_type, message, request_id)
    return web.json_response(body, status=status, headers={"request-id": request_id})


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, or None when it is not JSON."""
    try:
        return await request.json()
    except ValueError:
        return None


@dataclass(frozen=True)
class Call:
    body: Any
    retry: int  # how many times the client says it tried this call before
    batch: str | None = None  # the batch id, for a request of a message batch


def retry_count(request: web.Request) -> int:
    """The client's ``x-stainless-retry-count`` (0 for a first try, or when unreadable)."""
    try:
        return int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        return 0


def record_call(
    state: SimState, call: Call, sim_request: SimRequest | None, status: int | None
) -> None:
    """Append the call to the log ``GET /_sim/calls`` returns (status None: never answers)."""
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
            "parameters": sampling_parameters(call.body),
            "blocks": last_user_block_types(call.body),
        }
    )


# The request fields a call's log entry repeats, to show what reached the model.
LOGGED_PARAMETERS = ("temperature", "top_p", "top_k", "stop_sequences", "service_tier", "metadata")


def last_user_block_types(body: Any) -> list[str]:
    """The block types of the last user message (``["text"]`` for string content)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    users = [m for m in messages or () if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return []
    content = users[-1].get("content")
    if isinstance(content, str):
        return ["text"]
    return [str(b.get("type")) for b in content or () if isinstance(b, dict)]


def sampling_parameters(body: Any) -> dict[str, Any]:
    """The sampling and account parameters of a request body, as it sent them."""
    body = body if isinstance(body, dict) else {}
    return {name: body[name] for name in LOGGED_PARAMETERS if name in body}
