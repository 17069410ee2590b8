"""The subtasks an orchestrated request fans out to."""

from __future__ import annotations

from datetime import UTC, datetime

from streamrouter.blocks import ImageBlock, TextBlock
from streamrouter.events import LLMRequest, Message, Subtask, WorkItem
from streamrouter.pipeline.orchestrate import subtask_items

NOW = datetime(2026, 12, 4, tzinfo=UTC)
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
PLAN = [Subtask(subtask_id="1", prompt="Read the total", tier="haiku")]


def parent(content: object, system: str | None = None) -> WorkItem:
    request = LLMRequest.model_validate(
        {"request_id": "p", "system": system, "messages": [{"role": "user", "content": content}]}
    )
    return WorkItem(request=request, received_at=NOW, plan=PLAN)


def test_a_subtask_sees_the_images_and_system_prompt_the_parent_was_sent() -> None:
    content = [IMAGE, {"type": "text", "text": "Check this invoice"}]
    (item,) = subtask_items(parent(content, system="You audit invoices."), NOW)

    assert item.request.system == "You audit invoices."
    (message,) = item.request.messages
    assert isinstance(message.content, list)
    image, question = message.content
    assert isinstance(image, ImageBlock) and image.source.type == "base64"
    assert isinstance(question, TextBlock) and question.text == "Read the total"


def test_a_text_only_parent_gives_text_only_subtasks() -> None:
    (item,) = subtask_items(parent("Check this invoice"), NOW)
    assert item.request.messages == [Message(role="user", content="Read the total")]
    assert item.request.system is None
