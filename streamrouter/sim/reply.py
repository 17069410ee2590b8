"""What the simulator answers, as pure functions: request in, response body out.

``parse_request`` (:mod:`streamrouter.sim.request`, re-exported here) checks a Messages
API body and works out what the caller asked for; ``build_message`` then builds the
API's ``message`` object from the request, the matched scenario rule (if any) and the
deterministic simulation for what the rule leaves open:

* a forced tool call answers with one ``tool_use`` block (``stop_reason: tool_use``);
  a rule's ``tool_use`` naming the forced tool (or, with ``tool_choice: any``, any
  offered tool) supplies the call;
* otherwise, when the rule has a ``tool_use: {name, input}`` and the request offers a
  tool of that name (and ``tool_choice`` is not ``none``), the model calls it: a
  ``tool_use`` block (after a ``text`` block holding the rule's ``answer``, if any),
  ``stop_reason: tool_use``;
* otherwise one ``text`` block: the rule's ``answer`` or the simulated one, or the
  JSON object in JSON-schema output mode.

Text is cut at the first of the request's ``stop_sequences`` it contains
(``stop_reason: stop_sequence``, ``stop_sequence`` set; a tool call after the cut is
not made), and at ``max_tokens`` (``stop_reason: max_tokens``). A rule's
``stop_reason`` and ``output_tokens`` override what is computed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamrouter.sim.behaviour import (
    SimAnswer,
    classify,
    estimate_tokens,
    plan_payload,
    simulate_answer,
)
from streamrouter.sim.request import (
    CallKind,
    OutputMode,
    SimRequest,
    last_user_text,
    parse_count_request,
    parse_request,
)
from streamrouter.sim.scenario import ErrorKind, Rule

__all__ = [
    "CallKind",
    "OutputMode",
    "SimRequest",
    "api_error_body",
    "build_message",
    "error_response",
    "last_user_text",
    "parse_count_request",
    "parse_request",
]

_ERRORS: dict[str, tuple[int, str, str]] = {
    "rate_limited": (429, "rate_limit_error", "Rate limit exceeded (simulated)."),
    "overloaded": (529, "overloaded_error", "Overloaded (simulated)."),
    "server_error": (500, "api_error", "Internal server error (simulated)."),
}


def _properties(schema: Any) -> Mapping[str, Any]:
    if isinstance(schema, Mapping) and isinstance(schema.get("properties"), Mapping):
        return schema["properties"]
    return {}


def _fill(schema: Any, sim: SimAnswer) -> Any:
    """A value that fits a (simple) JSON schema, built from the simulated answer."""
    if not isinstance(schema, Mapping):
        return sim.answer
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {key: _fill(value, sim) for key, value in _properties(schema).items()}
    if kind == "array":
        return [_fill(schema.get("items"), sim)]
    values = {"number": sim.confidence, "integer": 1, "boolean": True, "null": None}
    return values.get(str(kind), sim.answer)


def _cut(text: str, max_tokens: int) -> str:
    """The part of ``text`` a model cut off by max_tokens would have written."""
    return text[: max(1, min(len(text) // 2, max_tokens * 4))] if text else text


def _payload(request: SimRequest, rule: Rule | None) -> dict[str, Any]:
    """The structured output (tool input or JSON object) for a non-text request."""
    if request.kind == "classify":
        sim_class = classify(request.model, request.last_user)
        return {
            "complexity": rule.complexity if rule and rule.complexity else sim_class.complexity,
            "confidence": _confidence(rule, sim_class.confidence),
            "reason": sim_class.reason
            if rule is None or rule.complexity is None
            else "scenario rule",
        }
    if request.kind == "plan":
        return plan_payload(request.last_user, rule.subtasks if rule else None)
    sim = simulate_answer(request.model, request.last_user)
    if rule is not None and rule.answer is not None:
        sim = SimAnswer(rule.answer, sim.confidence, "scenario rule")
    if request.kind == "answer":
        return {
            "answer": sim.answer,
            "confidence": _confidence(rule, sim.confidence),
            "reasoning": sim.reasoning,
        }
    filled = _fill(request.schema, sim)
    return filled if isinstance(filled, dict) else {"value": filled}


def _confidence(rule: Rule | None, simulated: float) -> float:
    return rule.confidence if rule is not None and rule.confidence is not None else simulated


@dataclass(slots=True)
class _Draft:
    """What the model writes before any cut: text, then maybe one tool call."""

    text: str | None
    tool_name: str | None = None
    tool_input: dict[str, Any] | None = None


def _draft(request: SimRequest, rule: Rule | None) -> _Draft:
    tool_use = rule.tool_use if rule is not None else None
    if request.mode == "tool":
        if tool_use is not None and (
            tool_use.name == request.tool_name
            or (request.tool_choice == "any" and tool_use.name in request.tool_names)
        ):
            return _Draft(None, tool_use.name, dict(tool_use.input))
        return _Draft(None, request.tool_name, _payload(request, rule))
    if (
        tool_use is not None
        and tool_use.name in request.tool_names
        and request.tool_choice != "none"
    ):
        answer = rule.answer if rule is not None else None
        return _Draft(answer or None, tool_use.name, dict(tool_use.input))
    if request.mode == "json":
        return _Draft(json.dumps(_payload(request, rule)))
    if rule is not None and rule.answer is not None:
        return _Draft(rule.answer)
    return _Draft(simulate_answer(request.model, request.last_user).answer)


def _stop_at_sequence(draft: _Draft, stop_sequences: tuple[str, ...]) -> str | None:
    """Cut the draft's text at the first stop sequence in it; the sequence, or None."""
    if draft.text is None:
        return None
    found = [(draft.text.find(stop), stop) for stop in stop_sequences if stop in draft.text]
    if not found:
        return None
    position, stop = min(found)
    draft.text = draft.text[:position]
    draft.tool_name = draft.tool_input = None
    return stop


def _truncate(draft: _Draft, max_tokens: int) -> None:
    """Cut the draft as ``max_tokens`` would: inside the text, else inside the tool input."""
    if draft.text:
        draft.text = _cut(draft.text, max_tokens)
        draft.tool_name = draft.tool_input = None
        return
    payload = draft.tool_input or {}
    for key in ("answer", "reason", "reasoning"):
        if isinstance(payload.get(key), str):
            payload[key] = _cut(payload[key], max_tokens)
            break


def _written(draft: _Draft) -> str:
    tool = json.dumps(draft.tool_input) if draft.tool_input is not None else ""
    return (draft.text or "") + tool


def build_message(
    request: SimRequest, rule: Rule | None, *, message_id: str, tool_use_id: str
) -> dict[str, Any]:
    """The API's ``message`` object answering ``request`` (``rule`` must not be an error)."""
    draft = _draft(request, rule)
    stop_sequence = _stop_at_sequence(draft, request.stop_sequences)
    explicit_tokens = rule is not None and rule.output_tokens is not None
    if rule is not None and rule.output_tokens is not None:
        produced = rule.output_tokens
    else:
        produced = estimate_tokens(_written(draft))
    if rule is not None and rule.stop_reason is not None:
        stop_reason: str = rule.stop_reason
    elif produced > request.max_tokens:
        stop_reason = "max_tokens"
    elif stop_sequence is not None:
        stop_reason = "stop_sequence"
    else:
        stop_reason = "tool_use" if draft.tool_name is not None else "end_turn"
    truncated = stop_reason == "max_tokens"
    if truncated:
        _truncate(draft, request.max_tokens)
    output_tokens = (
        request.max_tokens
        if truncated and not explicit_tokens
        else min(produced, request.max_tokens)
    )
    content: list[dict[str, Any]] = []
    if draft.text is not None and (draft.text or draft.tool_name is None):
        content.append({"type": "text", "text": draft.text})
    if draft.tool_name is not None:
        tool_use = {"type": "tool_use", "id": tool_use_id, "name": draft.tool_name}
        content.append({**tool_use, "input": draft.tool_input or {}})
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": {
            "input_tokens": request.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def api_error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """The real API's error JSON shape."""
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def error_response(
    kind: ErrorKind, retry_after: float, request_id: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and extra headers for a simulated error (not ``timeout``)."""
    status, error_type, message = _ERRORS[kind]
    headers = {"retry-after": _seconds(retry_after)} if status in (429, 529) else {}
    return status, api_error_body(error_type, message, request_id), headers
