"""How many input tokens a Messages request costs, as the simulator counts them.

Simple, documented rules (the same in ``count_tokens`` and in ``usage.input_tokens``):

* text (system, text blocks, tool definitions, tool_use inputs, tool_result text, a text
  document's data, titles): about four characters a token, all text of a request
  estimated together;
* an image: ``width * height / 750`` tokens, the API's rule of thumb, read from the
  image's own header (PNG, GIF, JPEG, WebP); when the size cannot be read, one token
  per 750 bytes of decoded data; capped at ``IMAGE_TOKEN_CAP`` (the API scales larger
  images down to about 1.15 megapixels). A ``url`` or ``file`` image, whose bytes the
  simulator never sees, counts as a full-size image (the cap);
* a PDF document: ``PDF_PAGE_TOKENS`` a page (the API turns each page into its text
  plus an image of the page). Pages are the ``/Type /Page`` objects in the file; when
  none are visible (compressed object streams), one page per ``PDF_BYTES_PER_PAGE``
  bytes. A ``url`` or ``file`` PDF counts as one page.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "IMAGE_TOKEN_CAP",
    "PDF_PAGE_TOKENS",
    "count_input_tokens",
    "decoded_size",
    "estimate_tokens",
    "image_size",
    "image_tokens",
    "pdf_pages",
    "sniff_image_type",
]

IMAGE_TOKEN_CAP = 1600
PIXELS_PER_TOKEN = 750
BYTES_PER_TOKEN = 750
PDF_PAGE_TOKENS = 2000
PDF_BYTES_PER_PAGE = 50_000
_HEADER_CHARS = 349_528  # base64 characters of the first 256 KiB, where image sizes live
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def estimate_tokens(text: str) -> int:
    """About four characters per token, at least one."""
    return max(1, math.ceil(len(text) / 4))


def decoded_size(data: str) -> int:
    """Bytes that ``data`` (base64) decodes to, without decoding it."""
    stripped = data.rstrip("=")
    return len(stripped) * 3 // 4


def _head(data: str) -> bytes:
    chunk = data[:_HEADER_CHARS]
    try:
        return base64.b64decode(chunk + "=" * (-len(chunk) % 4))
    except (binascii.Error, ValueError):
        return b""


def sniff_image_type(head: bytes) -> str | None:
    """The media type that an image's first bytes say it is, if recognised."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 <= len(head):
        if head[index] != 0xFF:
            return None
        marker = head[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in _JPEG_SOF:
            height = int.from_bytes(head[index + 5 : index + 7], "big")
            width = int.from_bytes(head[index + 7 : index + 9], "big")
            return width, height
        if marker in (0x01, *range(0xD0, 0xDA)):  # markers without a length
            index += 2
            continue
        index += 2 + int.from_bytes(head[index + 2 : index + 4], "big")
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8 " and len(head) >= 30:
        width = int.from_bytes(head[26:28], "little") & 0x3FFF
        return width, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def image_size(data: str) -> tuple[int, int] | None:
    """Width and height from a base64 image's header, or None when unreadable."""
    head = _head(data)
    kind = sniff_image_type(head)
    if kind == "image/png" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if kind == "image/gif" and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if kind == "image/jpeg":
        return _jpeg_size(head)
    if kind == "image/webp":
        return _webp_size(head)
    return None


def image_tokens(source: Mapping[str, Any]) -> int:
    """Tokens of one image block's ``source`` (see the module docstring)."""
    data = source.get("data")
    if source.get("type") != "base64" or not isinstance(data, str):
        return IMAGE_TOKEN_CAP
    size = image_size(data)
    if size is not None and size[0] > 0 and size[1] > 0:
        tokens = math.ceil(size[0] * size[1] / PIXELS_PER_TOKEN)
    else:
        tokens = math.ceil(decoded_size(data) / BYTES_PER_TOKEN)
    return max(1, min(tokens, IMAGE_TOKEN_CAP))


def pdf_pages(data: str) -> int:
    """Pages of a base64 PDF: its page objects, else an estimate from its size."""
    try:
        raw = base64.b64decode(data)
    except (binascii.Error, ValueError):
        raw = b""
    pages = len(_PDF_PAGE.findall(raw))
    return pages or max(1, math.ceil(decoded_size(data) / PDF_BYTES_PER_PAGE))


class _Tally:
    """Text to estimate together, plus tokens counted per item (images, PDF pages)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.media = 0

    def content(self, content: Any) -> None:
        if isinstance(content, str):
            self.texts.append(content)
        elif isinstance(content, Sequence):
            for block in content:
                self.block(block)
        else:
            self.texts.append(json.dumps(content, sort_keys=True))

    def block(self, block: Any) -> None:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            self.texts.append(str(block.get("text", "")))
        elif kind == "image":
            source = block.get("source")
            self.media += image_tokens(source if isinstance(source, Mapping) else {})
        elif kind == "document":
            self.document(block)
        elif kind == "tool_use":
            self.texts.append(json.dumps({"name": block.get("name"), "input": block.get("input")}))
        elif kind == "tool_result":
            self.content(block.get("content") or "")
        elif kind == "thinking":
            self.texts.append(str(block.get("thinking", "")))
        else:
            self.texts.append(json.dumps(block, sort_keys=True))

    def document(self, block: Mapping[str, Any]) -> None:
        for key in ("title", "context"):
            if isinstance(block.get(key), str):
                self.texts.append(block[key])
        source = block.get("source")
        source = source if isinstance(source, Mapping) else {}
        kind, data = source.get("type"), source.get("data")
        if kind == "text":
            self.texts.append(str(data or ""))
        elif kind == "content":
            self.content(source.get("content") or "")
        elif kind == "base64" and isinstance(data, str):
            self.media += PDF_PAGE_TOKENS * pdf_pages(data)
        else:
            self.media += PDF_PAGE_TOKENS

    def total(self) -> int:
        return estimate_tokens("\n".join(self.texts)) + self.media


def count_input_tokens(body: Mapping[str, Any]) -> int:
    """Input tokens of a Messages request: system, every message and the tool definitions."""
    tally = _Tally()
    tally.content(body.get("system") or "")
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            tally.content(message.get("content", ""))
    for tool in body.get("tools") or ():
        tally.texts.append(json.dumps(tool, sort_keys=True))
    return tally.total()
