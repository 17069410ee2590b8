"""The answering model's content blocks, as a result carries them.

Pydantic models after the anthropic SDK's response types (``TextBlock``,
``ToolUseBlock``, ``ThinkingBlock``, ``RedactedThinkingBlock``), so the dicts
``message.content[i].model_dump()`` gives validate as they are. :data:`ResultBlock` is a
discriminated union on ``type``. These are the model's output, not user input: fields
the API adds (``citations``, ``caller``...) are ignored (``extra="ignore"``), and dumping
a block gives its own fields only, in the API's shape.

Avro (see ``schemas/LLMResult.avsc``) holds every block in one flat ``ResultBlock``
record (``type`` plus each block type's fields, null where a type has none); a
tool_use's ``input`` is a JSON string there, as in the request's blocks
(:data:`~streamrouter.blocks.AVRO_CONTEXT`). The other types' null fields are ignored on
the way back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Tag, TypeAdapter

from streamrouter.blocks import JsonObject, _tagged

__all__ = [
    "ResultBlock",
    "ResultRedactedThinkingBlock",
    "ResultTextBlock",
    "ResultThinkingBlock",
    "ResultToolUseBlock",
    "result_blocks",
]


class _Output(BaseModel):
    """Base of the model's output shapes: frozen, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class ResultTextBlock(_Output):
    type: Literal["text"]
    text: str


class ResultToolUseBlock(_Output):
    type: Literal["tool_use"]
    id: str
    name: str
    input: JsonObject


class ResultThinkingBlock(_Output):
    type: Literal["thinking"]
    thinking: str
    signature: str


class ResultRedactedThinkingBlock(_Output):
    type: Literal["redacted_thinking"]
    data: str


ResultBlock = Annotated[
    Annotated[ResultTextBlock, Tag("<text>")]
    | Annotated[ResultToolUseBlock, Tag("<tool_use>")]
    | Annotated[ResultThinkingBlock, Tag("<thinking>")]
    | Annotated[ResultRedactedThinkingBlock, Tag("<redacted_thinking>")],
    _tagged("text", "tool_use", "thinking", "redacted_thinking", what="result block"),
]
"""One block of the answering model's content (the Avro ``ResultBlock`` record)."""

_RESULT_BLOCKS: TypeAdapter[list[ResultBlock]] = TypeAdapter(list[ResultBlock])


def result_blocks(content: Iterable[Mapping[str, Any] | BaseModel]) -> list[ResultBlock]:
    """``content`` as result blocks: the dicts ``block.model_dump()`` gives, the SDK's
    block objects themselves, or result blocks. A block of another type (a server tool's,
    say) is a ``ValidationError``."""
    items = [
        item.model_dump() if isinstance(item, BaseModel) and not isinstance(item, _Output) else item
        for item in content
    ]
    return _RESULT_BLOCKS.validate_python(items)
