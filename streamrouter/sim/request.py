"""A Messages API request body, checked like the real API and read into a ``SimRequest``.

``parse_request`` accepts what ``client.messages.create`` sends (the anthropic SDK's
``message_create_params``): ``messages`` and ``system`` as strings or content blocks
(checked in :mod:`streamrouter.sim.content`), ``tools`` (the service's own and any
user tool, server tools passed through), ``tool_choice`` (auto, any, tool, none),
``temperature``, ``top_p``, ``top_k``, ``stop_sequences``, ``thinking``,
``service_tier``, ``metadata.user_id`` and ``output_config``. What the API rejects is a
``ValueError`` naming the field (a 400 ``invalid_request_error``): an unknown top-level
field, ``temperature`` or ``top_p`` outside 0..1, a negative ``top_k``, a blank stop
sequence, a metadata key other than ``user_id``, a thinking budget under 1024 or not
below ``max_tokens``, thinking with a forced tool or with a ``temperature`` other than
1 or with ``top_k``, a tool without a valid name or an object ``input_schema``, repeated
tool names, a ``tool_choice`` naming an unknown tool or forcing one with no tools, and
tool_use/tool_result blocks in a request without ``tools``.

What the caller asks for:

* forced tool use (``tool_choice`` of type ``tool``, or ``any``: the first tool):
  ``classify_request`` is a classification, ``submit_answer`` an answer with a
  confidence; another tool is recognised by its schema's ``complexity``/``answer``
  properties, else filled in from the schema (kind ``structured``);
* JSON-schema output (``output_config.format.type == "json_schema"``), recognised the
  same way, answered with one ``text`` block holding the JSON;
* otherwise a plain text answer (or a scenario rule's ``tool_use``, see ``reply``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from streamrouter.sim.content import check_messages, check_system, has_tool_blocks, last_user_text
from streamrouter.sim.tokens import count_input_tokens

__all__ = [
    "CallKind",
    "OutputMode",
    "SimRequest",
    "last_user_text",
    "parse_count_request",
    "parse_request",
]

CallKind = Literal["classify", "answer", "plan", "text", "structured"]
OutputMode = Literal["tool", "json", "text"]
ToolChoiceType = Literal["auto", "any", "tool", "none"]

CLASSIFY_TOOL = "classify_request"
ANSWER_TOOL = "submit_answer"
PLAN_TOOL = "plan_subtasks"

_FIELDS = {
    "model", "messages", "max_tokens", "system", "tools", "tool_choice", "temperature",
    "top_p", "top_k", "stop_sequences", "thinking", "service_tier", "metadata", "stream",
    "output_config", "output_format", "cache_control", "container", "context_management",
    "diagnostics", "inference_geo", "speed", "mcp_servers", "user_profile_id", "workspace_id",
}  # fmt: skip
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_CHOICES = ("auto", "any", "tool", "none")
_THINKING = ("enabled", "disabled", "adaptive", "between_tools")


@dataclass(frozen=True, slots=True)
class SimRequest:
    """What one ``POST /v1/messages`` asks for."""

    model: str
    max_tokens: int
    last_user: str
    kind: CallKind
    mode: OutputMode
    input_tokens: int
    tool_name: str | None = None  # the forced tool, when ``mode == "tool"``
    schema: Mapping[str, Any] | None = None
    tool_names: tuple[str, ...] = ()  # every tool the request offers
    tool_choice: ToolChoiceType = "auto"
    stop_sequences: tuple[str, ...] = ()


def _number(body: Mapping[str, Any], key: str, low: float, high: float | None) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{key}: Input should be a valid number")
    if value < low:
        raise ValueError(f"{key}: Input should be greater than or equal to {low:g}")
    if high is not None and value > high:
        raise ValueError(f"{key}: Input should be less than or equal to {high:g}")


def _check_sampling(body: Mapping[str, Any]) -> None:
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    _number(body, "top_k", 0, None)
    if body.get("top_k") is not None and not isinstance(body["top_k"], int):
        raise ValueError("top_k: Input should be a valid integer")
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops):
            raise ValueError("stop_sequences: Input should be a list of strings")
        if any(not stop.strip() for stop in stops):
            raise ValueError("stop_sequences: each stop sequence must contain non-whitespace")
    if body.get("service_tier", "auto") not in ("auto", "standard_only"):
        raise ValueError("service_tier: Input should be 'auto' or 'standard_only'")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ValueError("metadata: Input should be an object")
        for key in metadata:
            if key != "user_id":
                raise ValueError(f"metadata.{key}: Extra inputs are not permitted")
        user_id = metadata.get("user_id")
        if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
            raise ValueError("metadata.user_id: Input should be a string of at most 256 characters")


def _check_thinking(body: Mapping[str, Any], max_tokens: int | None) -> bool:
    """Whether manual extended thinking is on; ValueError for a bad ``thinking``."""
    thinking = body.get("thinking")
    if thinking is None:
        return False
    if not isinstance(thinking, Mapping) or thinking.get("type") not in _THINKING:
        raise ValueError("thinking.type: Input should be " + " or ".join(map(repr, _THINKING)))
    if thinking["type"] != "enabled":
        return False
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
        raise ValueError("thinking.enabled.budget_tokens: Input should be an integer >= 1024")
    if max_tokens is not None and max_tokens <= budget:
        raise ValueError("max_tokens: must be greater than thinking.budget_tokens")
    if body.get("temperature") not in (None, 1):
        raise ValueError("temperature: may only be set to 1 when thinking is enabled")
    if body.get("top_k") is not None:
        raise ValueError("top_k: is not supported when thinking is enabled")
    return True


def _check_tools(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise ValueError("tools: Input should be a list")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ValueError(f"tools.{index}: Input should be an object")
        name = tool.get("name")
        if tool.get("type") in (None, "custom"):
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                raise ValueError(
                    f"tools.{index}.custom.name: String should match pattern "
                    "'^[a-zA-Z0-9_-]{1,128}$'"
                )
            schema = tool.get("input_schema")
            if not isinstance(schema, Mapping) or schema.get("type") != "object":
                raise ValueError(
                    f"tools.{index}.custom.input_schema.type: Input should be 'object'"
                )
        elif not isinstance(name, str):
            raise ValueError(f"tools.{index}.name: Field required")
        if name in names:
            raise ValueError("tools: Tool names must be unique.")
        names.add(name)
    return tuple(tools)


def _check_tool_choice(
    body: Mapping[str, Any], tools: tuple[Mapping[str, Any], ...], thinking: bool
) -> ToolChoiceType:
    choice = body.get("tool_choice")
    if choice is None:
        return "auto"
    if not isinstance(choice, Mapping) or choice.get("type") not in _CHOICES:
        raise ValueError("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    kind: ToolChoiceType = choice["type"]
    if "disable_parallel_tool_use" in choice and not isinstance(
        choice["disable_parallel_tool_use"], bool
    ):
        raise ValueError(f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a boolean")
    if kind in ("any", "tool") and not tools:
        raise ValueError("tool_choice: may only be specified while providing tools")
    if kind == "tool":
        name = choice.get("name")
        if not any(tool.get("name") == name for tool in tools):
            raise ValueError(f"tool_choice.name: tool {name!r} is not among the request's tools")
    if thinking and kind in ("any", "tool"):
        raise ValueError(
            "tool_choice: Thinking may not be enabled when tool_choice forces tool use."
        )
    return kind


def _check_common(body: Any, *, max_tokens: int | None = None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("model: Field required (a non-empty string)")
    check_messages(body.get("messages"))
    for key in body:
        if key not in _FIELDS:
            raise ValueError(f"{key}: Extra inputs are not permitted")
    check_system(body.get("system"))
    _check_sampling(body)
    tools = _check_tools(body)
    thinking = _check_thinking(body, max_tokens)
    _check_tool_choice(body, tools, thinking)
    if not tools and has_tool_blocks(body["messages"]):
        raise ValueError(
            "tools: Requests which include `tool_use` or `tool_result` blocks must define tools."
        )
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
    tools = list(body.get("tools") or ())
    if not isinstance(choice, Mapping):
        return None
    if choice.get("type") == "any":
        return tools[0]
    if choice.get("type") != "tool":
        return None
    return next(tool for tool in tools if tool.get("name") == choice.get("name"))


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
    """Read a Messages API body; ValueError (a 400) when the API would reject it."""
    max_tokens = body.get("max_tokens") if isinstance(body, dict) else None
    body = _check_common(body, max_tokens=max_tokens if isinstance(max_tokens, int) else None)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError("max_tokens: Field required (a positive integer)")
    common: dict[str, Any] = {
        "model": body["model"],
        "max_tokens": max_tokens,
        "last_user": last_user_text(body["messages"]),
        "input_tokens": count_input_tokens(body),
        "tool_names": tuple(str(tool.get("name")) for tool in body.get("tools") or ()),
        "tool_choice": (body.get("tool_choice") or {}).get("type", "auto"),
        "stop_sequences": tuple(body.get("stop_sequences") or ()),
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
