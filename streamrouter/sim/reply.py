"""What the simulator answers, as pure functions: request in, response body out.

``parse_request`` reads a Messages API body and works out what the caller asked for:

* forced tool use (``tool_choice={"type": "tool", "name": ...}``): ``classify_request``
  is a classification, ``submit_answer`` an answer with a confidence; another tool is
  recognised by its schema's ``complexity``/``answer`` properties, else filled in from
  the schema (kind ``structured``);
* JSON-schema output (``output_config.format.type == "json_schema"``), recognised the
  same way, answered with one ``text`` block holding the JSON;
* otherwise a plain text answer.

``build_message`` then builds the API's ``message`` object from the request, the matched
scenario rule (if any) and the deterministic simulation for what the rule leaves open.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from streamrouter.sim.behaviour import (
    SimAnswer,
    classify,
    count_input_tokens,
    estimate_tokens,
    plan_payload,
    simulate_answer,
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

CallKind = Literal["classify", "answer", "plan", "text", "structured"]
OutputMode = Literal["tool", "json", "text"]

CLASSIFY_TOOL = "classify_request"
ANSWER_TOOL = "submit_answer"
PLAN_TOOL = "plan_subtasks"

_ERRORS: dict[str, tuple[int, str, str]] = {
    "rate_limited": (429, "rate_limit_error", "Rate limit exceeded (simulated)."),
    "overloaded": (529, "overloaded_error", "Overloaded (simulated)."),
    "server_error": (500, "api_error", "Internal server error (simulated)."),
}


@dataclass(frozen=True, slots=True)
class SimRequest:
    """What one ``POST /v1/messages`` asks for."""

    model: str
    max_tokens: int
    last_user: str
    kind: CallKind
    mode: OutputMode
    input_tokens: int
    tool_name: str | None = None
    schema: Mapping[str, Any] | None = None


def last_user_text(messages: list[Any]) -> str:
    """The text of the last user message (its text blocks joined when it is a list)."""
    for message in reversed(messages):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                str(block.get("text", ""))
                for block in content
                if isinstance(block, Mapping) and block.get("type") == "text"
            )
        return ""
    return ""


def _check_common(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("model: Field required (a non-empty string)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages: Field required (a non-empty list)")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
            raise ValueError(f"messages.{index}: expected an object with role user or assistant")
    return body


def parse_count_request(body: Any) -> int:
    """Input tokens for ``POST /v1/messages/count_tokens``; ValueError if the body is bad."""
    return count_input_tokens(_check_common(body))


def _properties(schema: Any) -> Mapping[str, Any]:
    if isinstance(schema, Mapping) and isinstance(schema.get("properties"), Mapping):
        return schema["properties"]
    return {}


def _kind_of(name: str | None, schema: Any) -> CallKind:
    properties = _properties(schema)
    if name == CLASSIFY_TOOL or "complexity" in properties:
        return "classify"
    if name == ANSWER_TOOL or "answer" in properties:
        return "answer"
    if name == PLAN_TOOL or "subtasks" in properties:
        return "plan"
    return "structured"


def _forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choice = body.get("tool_choice")
    tools = [tool for tool in body.get("tools") or () if isinstance(tool, Mapping)]
    if not isinstance(choice, Mapping):
        return None
    if choice.get("type") == "any" and tools:
        return tools[0]
    if choice.get("type") != "tool":
        return None
    name = choice.get("name")
    for tool in tools:
        if tool.get("name") == name:
            return tool
    raise ValueError(f"tool_choice.name: tool {name!r} is not among the request's tools")


def _json_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    output_config = body.get("output_config")
    if not isinstance(output_config, Mapping):
        return None
    output_format = output_config.get("format")
    if not isinstance(output_format, Mapping) or output_format.get("type") != "json_schema":
        return None
    schema = output_format.get("schema")
    if not isinstance(schema, Mapping):
        raise ValueError("output_config.format.schema: Field required (an object)")
    return schema


def parse_request(body: Any) -> SimRequest:
    """Read a Messages API body; ValueError (a 400) when it lacks what the API requires."""
    body = _check_common(body)
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError("max_tokens: Field required (a positive integer)")
    common = {
        "model": body["model"],
        "max_tokens": max_tokens,
        "last_user": last_user_text(body["messages"]),
        "input_tokens": count_input_tokens(body),
    }
    tool = _forced_tool(body)
    if tool is not None:
        name = str(tool.get("name", ""))
        schema = tool.get("input_schema")
        kind = _kind_of(name, schema)
        return SimRequest(**common, kind=kind, mode="tool", tool_name=name, schema=schema)
    schema = _json_schema(body)
    if schema is not None:
        return SimRequest(**common, kind=_kind_of(None, schema), mode="json", schema=schema)
    return SimRequest(**common, kind="text", mode="text")


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


def build_message(
    request: SimRequest, rule: Rule | None, *, message_id: str, tool_use_id: str
) -> dict[str, Any]:
    """The API's ``message`` object answering ``request`` (``rule`` must not be an error)."""
    if request.mode == "text":
        sim = simulate_answer(request.model, request.last_user)
        full_text = rule.answer if rule is not None and rule.answer is not None else sim.answer
        payload: dict[str, Any] = {}
    else:
        payload = _payload(request, rule)
        full_text = json.dumps(payload)
    produced = (
        rule.output_tokens
        if rule is not None and rule.output_tokens is not None
        else estimate_tokens(full_text)
    )
    natural_stop = "tool_use" if request.mode == "tool" else "end_turn"
    if rule is not None and rule.stop_reason is not None:
        stop_reason: str = rule.stop_reason
    else:
        stop_reason = "max_tokens" if produced > request.max_tokens else natural_stop
    truncated = stop_reason == "max_tokens"
    explicit_tokens = rule is not None and rule.output_tokens is not None
    output_tokens = (
        request.max_tokens
        if truncated and not explicit_tokens
        else min(produced, request.max_tokens)
    )

    if request.mode == "tool":
        if truncated:
            for key in ("answer", "reason", "reasoning"):
                if isinstance(payload.get(key), str):
                    payload[key] = _cut(payload[key], request.max_tokens)
                    break
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": tool_use_id,
            "name": request.tool_name,
            "input": payload,
        }
    else:
        text = _cut(full_text, request.max_tokens) if truncated else full_text
        block = {"type": "text", "text": text}
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
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
