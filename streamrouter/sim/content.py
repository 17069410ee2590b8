"""``messages`` and ``system`` checked the way the Messages API checks them.

Every problem is a ``ValueError`` whose message starts with the field's path in the
API's own style (``messages.1.content.0.image.source.base64.media_type: ...``); the
server turns it into a 400 ``invalid_request_error``. The shapes are those of the
anthropic SDK's ``*_block_param`` types. What is rejected:

* a message that is not ``{role, content}``, a role other than user, assistant or
  system (system messages carry text only), a first turn that is not the user's;
* empty content (except a final assistant turn), empty or whitespace-only text, a
  final assistant turn ending in whitespace;
* a block type the API does not know, a block missing a required field;
* an image whose ``media_type`` is not jpeg, png, gif or webp, or does not match its
  bytes, that is not valid base64, is over 5 MB or 8000 px a side; more than 100 images;
* a document that is not a base64 PDF (``%PDF``), text, content, url or file source,
  or a PDF of more than 100 pages;
* tool_use outside an assistant turn, tool_result outside a user turn, a tool_result
  whose ``tool_use_id`` is not a tool_use of the previous turn, a tool_use the next
  turn does not answer with a tool_result, a repeated tool_use id.

Consecutive turns of one role are one turn, as the API combines them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from streamrouter.sim.tokens import image_size, pdf_pages, sniff_image_type

__all__ = ["check_messages", "check_system", "has_tool_blocks", "last_user_text"]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # of base64 data, as the API measures it
MAX_IMAGE_SIDE = 8000
MAX_IMAGES = 100
MAX_PDF_PAGES = 100
_SERVER_BLOCKS = {
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "container_upload",
}
_BLOCKS = {"text", "image", "document", "search_result", "thinking", "redacted_thinking"}
_BLOCKS |= {"tool_use", "tool_result"} | _SERVER_BLOCKS
_ASSISTANT_ONLY = {"tool_use", "thinking", "redacted_thinking"}
_RESULT_CONTENT = {"text", "image", "document", "search_result"}


_NAMES = {str: "string", dict: "object"}


def _require(block: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
    value = block.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"{path}.{key}: Field required (a {_NAMES.get(kind, kind.__name__)})")
    return value


def _text(block: Mapping[str, Any], path: str) -> None:
    text = _require(block, "text", str, path)
    if not text.strip():
        raise ValueError(f"{path}.text: text content blocks must contain non-whitespace text")


def _base64(data: Any, path: str) -> bytes:
    if not isinstance(data, str) or not data:
        raise ValueError(f"{path}.data: Field required (base64 data)")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{path}.data: not valid base64 ({exc})") from exc


def _url_or_file(source: Mapping[str, Any], path: str) -> bool:
    kind = source.get("type")
    if kind == "url":
        url = _require(source, "url", str, path)
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"{path}.url: expected an http(s) URL")
        return True
    if kind == "file":
        _require(source, "file_id", str, path)
        return True
    return False


def _image(block: Mapping[str, Any], path: str) -> None:
    source = _require(block, "source", dict, path)
    path = f"{path}.source"
    if _url_or_file(source, path):
        return
    if source.get("type") != "base64":
        raise ValueError(f"{path}.type: Input should be 'base64', 'url' or 'file'")
    media_type = source.get("media_type")
    if media_type not in IMAGE_TYPES:
        raise ValueError(
            f"{path}.base64.media_type: Input should be 'image/jpeg', 'image/png', "
            f"'image/gif' or 'image/webp' (got {media_type!r})"
        )
    if len(str(source.get("data", ""))) > MAX_IMAGE_BYTES:
        size = len(source["data"])
        raise ValueError(f"{path}.base64: image exceeds 5 MB maximum: {size} bytes")
    actual = sniff_image_type(_base64(source.get("data"), f"{path}.base64")[:16])
    if actual is not None and actual != media_type:
        raise ValueError(
            f"{path}.base64: The image was specified using the {media_type} media type, "
            f"but it appears to be a {actual} image"
        )
    width, height = image_size(source["data"]) or (0, 0)
    if max(width, height) > MAX_IMAGE_SIDE:
        raise ValueError(f"{path}.base64: image dimensions exceed max allowed size: 8000 pixels")


def _document(block: Mapping[str, Any], path: str) -> None:
    source = _require(block, "source", dict, path)
    path = f"{path}.source"
    kind = source.get("type")
    if _url_or_file(source, path):
        return
    if kind == "text":
        if source.get("media_type") != "text/plain":
            raise ValueError(f"{path}.text.media_type: Input should be 'text/plain'")
        _require(source, "data", str, f"{path}.text")
    elif kind == "content":
        content = source.get("content")
        if isinstance(content, list):
            for index, item in enumerate(content):
                _block(item, f"{path}.content.{index}", allowed={"text", "image"})
        elif not isinstance(content, str):
            raise ValueError(f"{path}.content: Field required (a string or a list of blocks)")
    elif kind == "base64":
        if source.get("media_type") != "application/pdf":
            raise ValueError(f"{path}.base64.media_type: Input should be 'application/pdf'")
        if not _base64(source.get("data"), f"{path}.base64").startswith(b"%PDF"):
            raise ValueError(f"{path}.base64.data: The PDF specified was not valid.")
        if pdf_pages(source["data"]) > MAX_PDF_PAGES:
            raise ValueError(f"{path}: A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")
    else:
        raise ValueError(
            f"{path}.type: Input should be 'base64', 'text', 'content', 'url' or 'file'"
        )


def _tool_result(block: Mapping[str, Any], path: str) -> None:
    _require(block, "tool_use_id", str, path)
    content = block.get("content")
    if isinstance(content, list):
        for index, item in enumerate(content):
            _block(item, f"{path}.content.{index}", allowed=_RESULT_CONTENT)
    elif content is not None and not isinstance(content, str):
        raise ValueError(f"{path}.content: expected a string or a list of blocks")
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise ValueError(f"{path}.is_error: Input should be a valid boolean")


def _block(block: Any, path: str, *, allowed: set[str] = _BLOCKS) -> str:
    if not isinstance(block, Mapping):
        raise ValueError(f"{path}: expected a content block object")
    kind = block.get("type")
    if kind not in allowed:
        expected = ", ".join(sorted(allowed))
        raise ValueError(f"{path}.type: unknown content block type {kind!r} (expected {expected})")
    if kind == "text":
        _text(block, path)
    elif kind == "image":
        _image(block, f"{path}.image")
    elif kind == "document":
        _document(block, f"{path}.document")
    elif kind == "tool_use":
        _require(block, "id", str, path)
        _require(block, "name", str, path)
        _require(block, "input", dict, path)
    elif kind == "tool_result":
        _tool_result(block, path)
    elif kind == "thinking":
        _require(block, "thinking", str, path)
        _require(block, "signature", str, path)
    elif kind == "redacted_thinking":
        _require(block, "data", str, path)
    return str(kind)


def _blocks(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, list):
        return [block for block in content if isinstance(block, Mapping)]
    return []


def check_system(system: Any) -> None:
    """``system``: a string or a list of text blocks."""
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise ValueError("system: expected a string or a list of text blocks")
    for index, block in enumerate(system):
        _block(block, f"system.{index}", allowed={"text"})


def _turns(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[int]]]:
    """Consecutive user or assistant messages grouped into turns (system ones left out)."""
    turns: list[tuple[str, list[int]]] = []
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "system":
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].append(index)
        else:
            turns.append((role, [index]))
    return turns


def _check_message(message: Any, index: int, last: bool) -> None:
    path = f"messages.{index}"
    if not isinstance(message, Mapping) or message.get("role") not in (
        "user",
        "assistant",
        "system",
    ):
        raise ValueError(f"{path}: expected an object with role user or assistant")
    role, content = message["role"], message.get("content")
    final_assistant = last and role == "assistant"
    if isinstance(content, str):
        if not content and not final_assistant:
            raise ValueError(f"{path}: all messages must have non-empty content")
    elif isinstance(content, list):
        if not content and not final_assistant:
            raise ValueError(f"{path}: all messages must have non-empty content")
        allowed = {"text"} if role == "system" else _BLOCKS
        for number, block in enumerate(content):
            kind = _block(block, f"{path}.content.{number}", allowed=allowed)
            if kind in _ASSISTANT_ONLY and role != "assistant":
                raise ValueError(
                    f"{path}.content.{number}: {kind} blocks only go in assistant turns"
                )
            if kind == "tool_result" and role != "user":
                raise ValueError(
                    f"{path}.content.{number}: tool_result blocks only go in user turns"
                )
    else:
        raise ValueError(f"{path}.content: Field required (a string or a list of blocks)")
    tail = content if isinstance(content, str) else ""
    if final_assistant and isinstance(content, list) and content:
        tail = str(content[-1].get("text", "")) if content[-1].get("type") == "text" else ""
    if final_assistant and tail != tail.rstrip():
        raise ValueError(f"{path}: final assistant content cannot end with trailing whitespace")


def _tool_ids(
    messages: Sequence[Mapping[str, Any]], indices: list[int], kind: str
) -> dict[str, str]:
    """``id -> path`` of the tool_use (or tool_result) blocks of one turn."""
    key = "id" if kind == "tool_use" else "tool_use_id"
    found: dict[str, str] = {}
    for index in indices:
        for number, block in enumerate(_blocks(messages[index]["content"])):
            if block.get("type") == kind:
                path = f"messages.{index}.content.{number}"
                if kind == "tool_use" and block[key] in found:
                    raise ValueError(f"{path}.id: `tool_use` ids must be unique")
                found[block[key]] = path
    return found


def _check_tool_pairs(messages: Sequence[Mapping[str, Any]]) -> None:
    turns = _turns(messages)
    for number, (role, indices) in enumerate(turns):
        if role != "user":
            continue
        previous = turns[number - 1][1] if number > 0 else []
        uses = _tool_ids(messages, previous, "tool_use")
        for tool_use_id, path in _tool_ids(messages, indices, "tool_result").items():
            if tool_use_id not in uses:
                raise ValueError(
                    f"{path}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{tool_use_id}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
    for number, (role, indices) in enumerate(turns[:-1]):
        if role != "assistant":
            continue
        answered = _tool_ids(messages, turns[number + 1][1], "tool_result")
        missing = [key for key in _tool_ids(messages, indices, "tool_use") if key not in answered]
        if missing:
            raise ValueError(
                f"messages.{turns[number + 1][1][0]}: `tool_use` ids were found without "
                f"`tool_result` blocks immediately after: {', '.join(missing)}. Each "
                "`tool_use` block must have a corresponding `tool_result` block in the "
                "next message."
            )


def check_messages(messages: Any) -> None:
    """``messages``: a non-empty list of turns starting with the user's (see the module)."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages: Field required (a non-empty list)")
    for index, message in enumerate(messages):
        _check_message(message, index, index == len(messages) - 1)
    turns = _turns(messages)
    if not turns or turns[0][0] != "user":
        raise ValueError('messages: first message must use the "user" role')
    images = sum(
        1
        for message in messages
        for block in _blocks(message["content"])
        if block.get("type") == "image"
    )
    if images > MAX_IMAGES:
        raise ValueError(f"messages: too many images in the request ({images} > {MAX_IMAGES})")
    _check_tool_pairs(messages)


def has_tool_blocks(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any (checked) message holds a tool_use or tool_result block."""
    return any(
        block.get("type") in ("tool_use", "tool_result")
        for message in messages
        for block in _blocks(message["content"])
    )


def _result_text(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text"]


def last_user_text(messages: Any) -> str:
    """The text of the last user turn: its text blocks and its tool_results' text, joined
    by newlines (consecutive user messages are one turn). Safe on any input."""
    if not isinstance(messages, list):
        return ""
    turn: list[Any] = []
    for message in reversed(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if role == "user":
            turn.append(message)
        elif turn and role != "system":
            break
    parts: list[str] = []
    for message in reversed(turn):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
            continue
        for block in _blocks(content):
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.extend(_result_text(block.get("content")))
    return "\n".join(parts)
