"""Input-token counting of images and documents (pure)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from streamrouter.sim.tokens import (
    IMAGE_TOKEN_CAP,
    PDF_PAGE_TOKENS,
    count_input_tokens,
    estimate_tokens,
    image_size,
    image_tokens,
)

from .media import b64, gif, jpeg, pdf_block, png, webp


@pytest.mark.parametrize("make", [png, gif, jpeg, webp])
def test_image_sizes_are_read_from_the_header(make: Any) -> None:
    assert image_size(b64(make(640, 480))) == (640, 480)


@pytest.mark.parametrize(
    ("data", "tokens"),
    [
        (png(1000, 750), 1000),  # width * height / 750
        (jpeg(200, 200), 54),
        (gif(10, 10), 1),
        (png(4000, 3000), IMAGE_TOKEN_CAP),  # the API scales big images down
        (b"\x00" * 75_000, 100),  # size unreadable: one token per 750 bytes
        (os.urandom(3_000_000), IMAGE_TOKEN_CAP),
    ],
)
def test_image_tokens(data: bytes, tokens: int) -> None:
    assert image_tokens({"type": "base64", "media_type": "image/png", "data": b64(data)}) == tokens


def test_url_and_file_images_count_as_full_size() -> None:
    assert image_tokens({"type": "url", "url": "https://x.test/a.png"}) == IMAGE_TOKEN_CAP
    assert image_tokens({"type": "file", "file_id": "file_1"}) == IMAGE_TOKEN_CAP


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(blocks)}]}


TEXT = {"type": "text", "text": "Describe it."}


def test_images_add_their_tokens_not_their_base64_length() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png"}}
    image["source"]["data"] = b64(png(1000, 750) + b"\x00" * 500_000)
    assert count_input_tokens(user(TEXT, image)) == count_input_tokens(user(TEXT)) + 1000


def test_pdfs_count_per_page_and_text_documents_by_their_text() -> None:
    base = count_input_tokens(user(TEXT))
    assert (
        count_input_tokens(user(TEXT, pdf_block(3)))
        == estimate_tokens("Describe it.\nReport") + 3 * PDF_PAGE_TOKENS
    )
    assert count_input_tokens(user(TEXT, pdf_block(1))) < base + PDF_PAGE_TOKENS + 5
    words = "lorem ipsum " * 400
    text_doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain"}}
    text_doc["source"]["data"] = words
    assert count_input_tokens(user(TEXT, text_doc)) == estimate_tokens(f"Describe it.\n{words}")
    url_doc = {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}
    assert count_input_tokens(user(TEXT, url_doc)) == base + PDF_PAGE_TOKENS


def test_tool_turns_count_their_input_and_result_text() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"c": "Paris"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x" * 400}
                ],
            },
        ]
    }
    assert count_input_tokens(body) > 100
