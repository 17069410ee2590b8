"""The Messages API's request shapes: content blocks, tools, tool choice, thinking.

Typed pydantic models after the anthropic SDK's ``*_param`` types, so a body written for
``client.messages.create`` validates as it is. A block is a discriminated union on its
``type``; so is a block's ``source``. Unknown fields are refused (``extra="forbid"``), as
the API refuses them: nothing the user sent is dropped on the way to the model.

Avro (see ``schemas/LLMRequest.avsc``) has no tagged unions and no "any JSON" type. It
holds every block in one ``ContentBlock`` record (``type`` plus each block type's fields,
null where a type has none) and every source in one ``Source`` record; JSON-valued
fields (a tool_use's ``input``, a tool's ``input_schema``) are JSON strings there. The
codec asks for that form with the validation and serialization context
:data:`AVRO_CONTEXT`; without it, every model is its JSON (API) form.

Union tags appear in validation error locations as ``<text>``, ``<base64>``...; the
codec leaves them out of the field paths it names.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    SerializationInfo,
    Tag,
    ValidationInfo,
    model_validator,
)

__all__ = [
    "AVRO_CONTEXT",
    "Base64ImageSource",
    "Base64PDFSource",
    "Block",
    "CacheControl",
    "CitationsConfig",
    "ContentBlock",
    "DocumentBlock",
    "ImageBlock",
    "JsonObject",
    "MessageContent",
    "PlainTextSource",
    "RedactedThinkingBlock",
    "SystemContent",
    "TextBlock",
    "Thinking",
    "ThinkingBlock",
    "Tool",
    "ToolChoice",
    "ToolResultBlock",
    "ToolUseBlock",
    "URLImageSource",
    "URLPDFSource",
    "api_blocks",
    "block_texts",
]

AVRO_CONTEXT: dict[str, Any] = {"avro": True}
"""Context for ``model_validate`` / ``model_dump``: the Avro form of the models."""

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _is_avro(info: ValidationInfo | SerializationInfo) -> bool:
    return bool(info.context and info.context.get("avro"))


def _json_from_avro(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and _is_avro(info):
        return json.loads(value)  # a ValueError is a validation error
    return value


def _json_to_avro(value: dict[str, Any], info: SerializationInfo) -> Any:
    if _is_avro(info):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


JsonObject = Annotated[
    dict[str, Any], BeforeValidator(_json_from_avro), PlainSerializer(_json_to_avro)
]
"""A JSON object; a JSON string in the Avro form."""


def _tagged(*kinds: str, what: str) -> Discriminator:
    """A discriminator on ``type``; the union members are tagged ``<kind>``."""

    def tag(value: Any) -> str | None:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return f"<{kind}>" if isinstance(kind, str) else None

    expected = ", ".join(kinds)
    return Discriminator(
        tag,
        custom_error_type=f"unknown_{what.replace(' ', '_')}",
        custom_error_message=f"unknown {what} type (the types are {expected})",
    )


def _string_or_blocks(value: Any) -> str | None:
    if isinstance(value, str):
        return "<string>"
    if isinstance(value, list | tuple):
        return "<blocks>"
    return None


_STRING_OR_BLOCKS = Discriminator(
    _string_or_blocks,
    custom_error_type="content_type",
    custom_error_message="Input should be a string or a list of content blocks",
)


class _Param(BaseModel):
    """Base of the API's shapes: frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class _Flat(_Param):
    """A shape stored in a flat Avro record shared by several shapes (``ContentBlock``,
    ``Source``): the other shapes' fields arrive as nulls and are dropped."""

    @model_validator(mode="before")
    @classmethod
    def _drop_other_shapes_fields(cls, data: Any, info: ValidationInfo) -> Any:
        if _is_avro(info) and isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class CacheControl(_Param):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class CitationsConfig(_Param):
    enabled: bool | None = None


# --- sources -------------------------------------------------------------------------------


class Base64ImageSource(_Flat):
    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str


class URLImageSource(_Flat):
    type: Literal["url"]
    url: str


class Base64PDFSource(_Flat):
    type: Literal["base64"]
    media_type: Literal["application/pdf"]
    data: str


class PlainTextSource(_Flat):
    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: str


class URLPDFSource(_Flat):
    type: Literal["url"]
    url: str


ImageSource = Annotated[
    Annotated[Base64ImageSource, Tag("<base64>")] | Annotated[URLImageSource, Tag("<url>")],
    _tagged("base64", "url", what="image source"),
]
DocumentSource = Annotated[
    Annotated[Base64PDFSource, Tag("<base64>")]
    | Annotated[PlainTextSource, Tag("<text>")]
    | Annotated[URLPDFSource, Tag("<url>")],
    _tagged("base64", "text", "url", what="document source"),
]


# --- blocks --------------------------------------------------------------------------------


class TextBlock(_Flat):
    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None


class ImageBlock(_Flat):
    type: Literal["image"]
    source: ImageSource
    cache_control: CacheControl | None = None


class DocumentBlock(_Flat):
    type: Literal["document"]
    source: DocumentSource
    title: str | None = None
    context: str | None = None
    citations: CitationsConfig | None = None
    cache_control: CacheControl | None = None


class ToolUseBlock(_Flat):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: JsonObject
    cache_control: CacheControl | None = None


ToolResultContentBlock = Annotated[
    Annotated[TextBlock, Tag("<text>")]
    | Annotated[ImageBlock, Tag("<image>")]
    | Annotated[DocumentBlock, Tag("<document>")],
    _tagged("text", "image", "document", what="tool_result content block"),
]


class ToolResultBlock(_Flat):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: (
        Annotated[
            Annotated[str, Tag("<string>")]
            | Annotated[list[ToolResultContentBlock], Tag("<blocks>")],
            _STRING_OR_BLOCKS,
        ]
        | None
    ) = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(_Flat):
    """An assistant's thinking, sent back as the model gave it (with tools, the API wants
    the last assistant turn's thinking back unchanged)."""

    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(_Flat):
    type: Literal["redacted_thinking"]
    data: str


ContentBlock = Annotated[
    Annotated[TextBlock, Tag("<text>")]
    | Annotated[ImageBlock, Tag("<image>")]
    | Annotated[DocumentBlock, Tag("<document>")]
    | Annotated[ToolUseBlock, Tag("<tool_use>")]
    | Annotated[ToolResultBlock, Tag("<tool_result>")]
    | Annotated[ThinkingBlock, Tag("<thinking>")]
    | Annotated[RedactedThinkingBlock, Tag("<redacted_thinking>")],
    _tagged(
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        what="content block",
    ),
]
"""One block of a message's content (the Avro ``ContentBlock`` record)."""

Block = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
)

MessageContent = Annotated[
    Annotated[str, Tag("<string>")] | Annotated[list[ContentBlock], Tag("<blocks>")],
    _STRING_OR_BLOCKS,
]
"""A message's ``content``: a string, or content blocks."""

SystemContent = Annotated[
    Annotated[str, Tag("<string>")] | Annotated[list[TextBlock], Tag("<blocks>")],
    Discriminator(
        _string_or_blocks,
        custom_error_type="system_type",
        custom_error_message="Input should be a string or a list of text blocks",
    ),
]
"""The ``system`` prompt: a string, or text blocks."""


# --- request parameters --------------------------------------------------------------------


class Tool(_Param):
    """A user (custom) tool, as the SDK's ``ToolParam``."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    description: str | None = None
    input_schema: JsonObject
    cache_control: CacheControl | None = None
    strict: bool | None = None
    type: Literal["custom"] | None = None


class ToolChoice(_Param):
    """``tool_choice``: auto, any, tool (with its ``name``) or none."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None

    @model_validator(mode="after")
    def _name_only_for_tool(self) -> ToolChoice:
        if (self.type == "tool") != (self.name is not None):
            raise ValueError("name is required for type 'tool' and allowed only there")
        return self


class Thinking(_Param):
    """``thinking``: enabled (with ``budget_tokens``), disabled or adaptive."""

    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(default=None, ge=1024, le=2**31 - 1)
    display: Literal["summarized", "omitted"] | None = None

    @model_validator(mode="after")
    def _budget_only_when_enabled(self) -> Thinking:
        if (self.type == "enabled") != (self.budget_tokens is not None):
            raise ValueError("budget_tokens is required for type 'enabled' and allowed only there")
        return self


# --- helpers -------------------------------------------------------------------------------


def api_blocks(content: str | list[Any]) -> str | list[dict[str, Any]]:
    """``content`` as the API takes it: the string, or each block's own fields."""
    if isinstance(content, str):
        return content
    return [block.model_dump(exclude_none=True) for block in content]


def block_texts(block: Block) -> list[str]:
    """The text a block puts before the model: a text block's text, a tool_use's input
    (as JSON), a tool_result's text, a plain-text document with its title and context.
    Images and base64 or URL documents have none (they count by their bytes)."""
    if isinstance(block, TextBlock):
        return [block.text]
    if isinstance(block, ToolUseBlock):
        return [block.name, json.dumps(block.input, ensure_ascii=False)]
    if isinstance(block, ToolResultBlock):
        if isinstance(block.content, str):
            return [block.content]
        return [text for inner in block.content or () for text in block_texts(inner)]
    if isinstance(block, ThinkingBlock):
        return [block.thinking]
    if isinstance(block, DocumentBlock):
        texts = [t for t in (block.title, block.context) if t]
        if isinstance(block.source, PlainTextSource):
            texts.append(block.source.data)
        return texts
    return []
