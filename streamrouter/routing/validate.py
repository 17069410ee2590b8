"""The request contract beyond the schema: what makes a decoded request unservable.

Limits (size, count of content blocks, bytes of an image or document), what the
Messages API would reject anyway (so no model call is spent on it), and what the service
cannot do yet. Each rule names the field it found broken.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from streamrouter.blocks import (
    Base64ImageSource,
    Base64PDFSource,
    Block,
    DocumentBlock,
    ImageBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from streamrouter.errors import InvalidRequestError
from streamrouter.events import LLMRequest, Message

__all__ = ["RequestLimits", "validate_request"]

MAX_USER_ID_CHARS = 256  # the API's limit on metadata.user_id


@dataclass(frozen=True)
class RequestLimits:
    max_prompt_chars: int
    max_output_tokens: int
    # The whole event as it arrives; bigger ones are dead-lettered before decoding.
    max_event_bytes: int = 1_000_000
    max_request_id_chars: int = 256
    # Content blocks in the system prompt and the messages (tool_result content included).
    max_content_blocks: int = 1_000
    # The decoded bytes of one base64 image or document (the API's limit: 5 MB an image).
    max_media_bytes: int = 5 * 1024 * 1024


def validate_request(request: LLMRequest, limits: RequestLimits, tiers: Sequence[str]) -> None:
    """Raise :class:`InvalidRequestError` naming the first broken rule."""
    rid = request.request_id
    if not rid.strip():
        raise InvalidRequestError("request_id is empty")
    if len(rid) > limits.max_request_id_chars:
        raise InvalidRequestError(
            f"request_id is {len(rid)} characters, over the limit of {limits.max_request_id_chars}"
        )
    if not rid.isprintable():
        raise InvalidRequestError("request_id contains control characters")
    if not request.messages:
        raise InvalidRequestError("messages is empty")
    if request.messages[0].role != "user":
        raise InvalidRequestError("messages[0].role: the first message must come from the user")
    _check_blocks(request, limits)
    if request.messages[-1].role != "user":
        raise InvalidRequestError("the last message must come from the user")
    if request.prompt_chars > limits.max_prompt_chars:
        raise InvalidRequestError(
            f"prompt is {request.prompt_chars} characters, over the limit of "
            f"{limits.max_prompt_chars}"
        )
    if not 1 <= request.max_tokens <= limits.max_output_tokens:
        raise InvalidRequestError(
            f"max_tokens {request.max_tokens} is outside 1..{limits.max_output_tokens}"
        )
    if request.tier is not None and request.tier not in tiers:
        raise InvalidRequestError(f"unknown tier {request.tier!r}; tiers are {list(tiers)}")
    _check_parameters(request)
    _check_tool_turns(request.messages)


def _check_blocks(request: LLMRequest, limits: RequestLimits) -> None:
    for count, (path, block) in enumerate(_all_blocks(request), start=1):
        if count > limits.max_content_blocks:
            raise InvalidRequestError(
                f"{path}: more than {limits.max_content_blocks} content blocks in the request"
            )
        if isinstance(block, TextBlock) and not block.text.strip():
            raise InvalidRequestError(f"{path}.text is empty")
        source = block.source if isinstance(block, ImageBlock | DocumentBlock) else None
        if isinstance(source, Base64ImageSource | Base64PDFSource):
            size = _decoded_size(source.data, f"{path}.source.data")
            if size > limits.max_media_bytes:
                raise InvalidRequestError(
                    f"{path}.source.data: {size} bytes, over the limit of "
                    f"{limits.max_media_bytes} for an image or document"
                )
    for index, message in enumerate(request.messages):
        if not (message.content.strip() if isinstance(message.content, str) else message.content):
            raise InvalidRequestError(f"messages[{index}].content is empty")


def _all_blocks(request: LLMRequest) -> Iterator[tuple[str, Block]]:
    if isinstance(request.system, list):
        for index, block in enumerate(request.system):
            yield f"system[{index}]", block
    for m, message in enumerate(request.messages):
        if isinstance(message.content, str):
            continue
        for index, block in enumerate(message.content):
            path = f"messages[{m}].content[{index}]"
            yield path, block
            if isinstance(block, ToolResultBlock) and isinstance(block.content, list):
                for inner_index, inner in enumerate(block.content):
                    yield f"{path}.content[{inner_index}]", inner


def _decoded_size(data: str, path: str) -> int:
    try:
        return len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(f"{path}: not valid base64 ({exc})") from None


def _check_parameters(request: LLMRequest) -> None:
    for index, stop in enumerate(request.stop_sequences):
        if not stop.strip():
            raise InvalidRequestError(f"stop_sequences[{index}] is blank")
    names = [tool.name for tool in request.tools]
    if len(set(names)) != len(names):
        raise InvalidRequestError(f"tools: tool names must be unique, got {names}")
    choice = request.tool_choice
    if choice is not None and choice.type in ("any", "tool") and not request.tools:
        raise InvalidRequestError(f"tool_choice: type {choice.type!r} needs tools")
    if choice is not None and choice.type == "tool" and choice.name not in names:
        raise InvalidRequestError(f"tool_choice.name: {choice.name!r} is not one of the tools")
    thinking = request.thinking
    if thinking is not None and (thinking.budget_tokens or 0) >= request.max_tokens:
        raise InvalidRequestError("thinking.budget_tokens must be below max_tokens")
    thinks = thinking is not None and thinking.type != "disabled"
    if thinks and request.temperature not in (None, 1.0):
        raise InvalidRequestError("temperature: thinking allows only temperature 1")
    if thinks and request.top_k is not None:
        raise InvalidRequestError("top_k: thinking does not allow top_k")
    user_id = request.metadata.get("user_id")
    if user_id is not None and len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidRequestError(
            f"metadata.user_id: {len(user_id)} characters, over the API's {MAX_USER_ID_CHARS}"
        )


def _check_tool_turns(messages: Sequence[Message]) -> None:
    """tool_use and thinking only from the assistant, tool_result only from the user,
    each answering a tool_use of the message just before it (as the API requires)."""
    previous_uses: set[str] = set()
    for m, message in enumerate(messages):
        blocks = [] if isinstance(message.content, str) else message.content
        uses: set[str] = set()
        for index, block in enumerate(blocks):
            path = f"messages[{m}].content[{index}]"
            if isinstance(block, ToolUseBlock):
                if message.role != "assistant":
                    raise InvalidRequestError(f"{path}: tool_use blocks come from the assistant")
                uses.add(block.id)
            elif isinstance(block, ThinkingBlock | RedactedThinkingBlock):
                if message.role != "assistant":
                    raise InvalidRequestError(
                        f"{path}: {block.type} blocks come from the assistant"
                    )
            elif isinstance(block, ToolResultBlock):
                if message.role != "user":
                    raise InvalidRequestError(f"{path}: tool_result blocks come from the user")
                if block.tool_use_id not in previous_uses:
                    raise InvalidRequestError(
                        f"{path}.tool_use_id: {block.tool_use_id!r} answers no tool_use of "
                        "the message before it"
                    )
        previous_uses = uses
