"""The bad-input corpus: records a producer may put on the requests topic, and what each
must leave behind.

Every entry is keyed ``<tag>-<name>``, so its dead letter can be found by key. An entry
expects one of:

* ``dead_letter``: a record on the DLQ with ``error_type`` and a message matching
  ``message`` (a regex), and no result;
* ``result``: a result (the input is odd but valid), checked by ``check``.

``build_corpus(tag, limits)`` returns them. Inputs that need a record of their own (a
null value, 10 MB, an oversized request, unreasonable request ids) are tested one by one
in ``test_bad_input.py``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import fastavro

from streamrouter.codec import encode, fingerprint
from streamrouter.events import LLMRequest, LLMResult, Message

__all__ = ["BadInput", "Limits", "build_corpus", "other_schema_avro", "valid_request"]

Expect = Literal["dead_letter", "result"]


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    max_output_tokens: int


@dataclass(frozen=True)
class BadInput:
    name: str
    key: bytes | None
    value: bytes | None
    expect: Expect
    error_type: str = ""
    message: str = ""  # regex searched in the dead letter's error_message
    check: Callable[[LLMResult], bool] | None = field(default=None, compare=False)
    request_id: str = ""  # for ``result`` entries: the id the result carries


def valid_request(request_id: str, /, text: str = "FAULT-OK please help", **fields: object) -> dict:
    """A valid request as a JSON-ready dict; ``fields`` override or add fields."""
    request: dict = {
        "request_id": request_id,
        "task_type": "summarize",
        "messages": [{"role": "user", "content": f"{text} [{request_id}]"}],
    }
    request.update(fields)
    return request


def other_schema_avro() -> bytes:
    """Valid Avro single-object encoding of a schema the service does not know."""
    schema = fastavro.parse_schema(
        {"type": "record", "name": "Foo", "fields": [{"name": "foo", "type": "string"}]}
    )
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema, {"foo": "bar"})
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    return (
        b"\xc3\x01"
        + bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
        + (body.getvalue())
    )


def _avro_request(request_id: str) -> bytes:
    return encode(
        LLMRequest(
            request_id=request_id,
            task_type="summarize",
            messages=[Message(role="user", content=f"FAULT-OK [{request_id}]")],
        )
    )


def _avro_with_bad_utf8_id() -> bytes:
    """An LLMRequest frame whose first field (request_id, an Avro string) is not UTF-8."""
    body = b"\x04\xff\xfe"  # zigzag length 2, then two bytes that are not UTF-8
    return b"\xc3\x01" + fingerprint(LLMRequest) + body + b"\x00" * 16


def _avro_with_absurd_length() -> bytes:
    """An LLMRequest frame whose request_id claims a length of about 2**62 bytes."""
    return b"\xc3\x01" + fingerprint(LLMRequest) + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _is_ok(result: LLMResult) -> bool:
    return result.status == "ok"


def build_corpus(tag: str, limits: Limits) -> list[BadInput]:
    """Every kind of bad (or odd but valid) input the service handles today."""

    def rid(name: str) -> str:
        return f"{tag}-{name}"

    def dead(name: str, value: bytes | None, error_type: str, message: str) -> BadInput:
        return BadInput(name, rid(name).encode(), value, "dead_letter", error_type, message)

    def req(name: str, **fields: object) -> dict:
        return valid_request(rid(name), **fields)

    def served(
        name: str,
        *,
        key: bytes | Literal["id"] | None = "id",
        check: Callable[[LLMResult], bool] = _is_ok,
        **fields: object,
    ) -> BadInput:
        record_key = rid(name).encode() if key == "id" else key
        value = _json(req(name, **fields))
        return BadInput(name, record_key, value, "result", check=check, request_id=rid(name))

    user = [{"role": "user", "content": "FAULT-OK hello"}]
    avro = _avro_request(rid("truncated-avro-body"))
    return [
        # -- not a request at all ---------------------------------------------------
        dead("empty-value", b"", "undecodable", "empty value"),
        dead("garbage", b"\x00\xff garbage", "undecodable", "neither Avro"),
        dead("nul-bytes", b"\x00" * 64, "undecodable", "neither Avro"),
        dead(
            "utf8-bom-json",
            b"\xef\xbb\xbf" + _json(req("utf8-bom-json")),
            "undecodable",
            "ef bb bf",
        ),
        dead("json-array", _json([req("json-array")]), "undecodable", "neither Avro"),
        dead("json-invalid", b'{"request_id": "x", ', "undecodable", "invalid JSON"),
        dead(
            "json-invalid-utf8",
            b'{"request_id": "\xff\xfe", "messages": []}',
            "undecodable",
            "invalid JSON: invalid unicode",
        ),
        dead(
            "json-raw-nul",
            b'{"request_id": "a\x00b", "messages": []}',
            "undecodable",
            "invalid JSON: control character",
        ),
        dead(
            "json-lone-surrogate",
            _json(req("json-lone-surrogate")).replace(b"FAULT-OK", b"\\ud800"),
            "undecodable",
            "invalid JSON",
        ),
        dead(
            "json-deeply-nested",
            b'{"request_id": "x", "metadata": ' + _nested(100_000).encode() + b"}",
            "undecodable",
            "recursion limit",
        ),
        dead(
            "json-deeply-nested-unknown-field",
            b'{"request_id": "x", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "undecodable",
            "recursion limit",
        ),
        # -- Avro frames that are not an LLMRequest ---------------------------------
        dead(
            "truncated-avro-header",
            b"\xc3\x01\x01\x02\x03",
            "undecodable",
            "truncated Avro single-object header",
        ),
        dead("truncated-avro-body", avro[:-12], "undecodable", "corrupt or truncated Avro body"),
        dead(
            "avro-trailing-bytes",
            _avro_request(rid("avro-trailing-bytes")) + b"\x00\x01",
            "undecodable",
            "trailing bytes",
        ),
        dead(
            "avro-invalid-utf8",
            _avro_with_bad_utf8_id(),
            "undecodable",
            "corrupt or truncated Avro body",
        ),
        dead(
            "avro-absurd-length",
            _avro_with_absurd_length(),
            "undecodable",
            "corrupt or truncated Avro body",
        ),
        dead(
            "avro-wrong-fingerprint",
            b"\xc3\x01" + b"\x13" * 8 + avro[10:],
            "unknown_schema",
            "unknown Avro schema fingerprint 1313131313131313",
        ),
        dead("avro-other-schema", other_schema_avro(), "unknown_schema", "unknown Avro schema"),
        dead(
            "avro-other-streamrouter-type",
            encode(
                LLMResult(
                    request_id=rid("avro-other-streamrouter-type"),
                    tenant="t",
                    status="ok",
                    completed_at=0,
                )
            ),
            "unknown_schema",
            "holds a streamrouter.v1.LLMResult, expected streamrouter.v1.LLMRequest",
        ),
        # -- decodes, but breaks the request contract ---------------------------------
        dead(
            "json-wrong-types",
            _json({"request_id": 123, "messages": "hi"}),
            "invalid_request",
            "request_id: Input should be a valid string; messages: Input should be a list",
        ),
        dead("missing-request-id", _json({"messages": user}), "invalid_request", "request_id"),
        dead("empty-request-id", _json(req("x", request_id="")), "invalid_request", "request_id"),
        dead(
            "blank-request-id",
            _json(req("x", request_id="   ")),
            "invalid_request",
            "request_id is empty",
        ),
        dead(
            "empty-messages",
            _json(req("empty-messages", messages=[])),
            "invalid_request",
            "messages is empty",
        ),
        dead(
            "missing-messages",
            _json({"request_id": rid("missing-messages")}),
            "invalid_request",
            "messages is empty",
        ),
        dead(
            "unknown-role",
            _json(req("unknown-role", messages=[{"role": "system", "content": "hi"}])),
            "invalid_request",
            r"messages\[0\]\.role",
        ),
        dead(
            "last-message-from-assistant",
            _json(
                req(
                    "last-message-from-assistant",
                    messages=[*user, {"role": "assistant", "content": "ok"}],
                )
            ),
            "invalid_request",
            "last message must come from the user",
        ),
        dead(
            "blank-content",
            _json(req("blank-content", messages=[{"role": "user", "content": " \n\t "}])),
            "invalid_request",
            r"messages\[0\]\.content is empty",
        ),
        dead(
            "unknown-content-block",
            _json(
                req(
                    "unknown-content-block",
                    messages=[{"role": "user", "content": [{"type": "video"}]}],
                )
            ),
            "invalid_request",
            r"messages\[0\]\.content\[0\]: unknown content block type",
        ),
        dead(
            "over-long-prompt",
            _json(
                req(
                    "over-long-prompt",
                    messages=[{"role": "user", "content": "x" * (limits.max_prompt_chars + 1)}],
                )
            ),
            "invalid_request",
            "over the limit",
        ),
        dead(
            "over-long-system-prompt",
            _json(req("over-long-system-prompt", system="s" * limits.max_prompt_chars)),
            "invalid_request",
            "over the limit",
        ),
        dead(
            "tool-without-input-schema",
            _json(req("tool-without-input-schema", tools=[{"name": "x"}])),
            "invalid_request",
            "tools",
        ),
        dead(
            "max-tokens-zero",
            _json(req("max-tokens-zero", max_tokens=0)),
            "invalid_request",
            "max_tokens",
        ),
        dead(
            "max-tokens-negative",
            _json(req("max-tokens-negative", max_tokens=-5)),
            "invalid_request",
            "max_tokens",
        ),
        dead(
            "max-tokens-huge",
            _json(req("max-tokens-huge", max_tokens=limits.max_output_tokens + 1)),
            "invalid_request",
            f"max_tokens {limits.max_output_tokens + 1} is outside 1..{limits.max_output_tokens}",
        ),
        dead(
            "max-tokens-overflow",
            _json(req("max-tokens-overflow", max_tokens=10**30)),
            "invalid_request",
            "max_tokens",
        ),
        dead(
            "max-tokens-not-a-number",
            _json(req("max-tokens-not-a-number", max_tokens="lots")),
            "invalid_request",
            "max_tokens",
        ),
        dead(
            "unknown-tier",
            _json(req("unknown-tier", tier="gpt-5")),
            "invalid_request",
            "unknown tier 'gpt-5'",
        ),
        dead("unknown-mode", _json(req("unknown-mode", mode="batch")), "invalid_request", "mode"),
        dead(
            "bad-created-at",
            _json(req("bad-created-at", created_at="yesterday")),
            "invalid_request",
            "created_at: not a timestamp",
        ),
        dead(
            "metadata-not-strings",
            _json(req("metadata-not-strings", metadata={"retries": 3})),
            "invalid_request",
            r"metadata\.retries",
        ),
        # -- odd but valid: served ---------------------------------------------------------
        served(
            "unknown-task-type",
            task_type="comit_message",
            check=lambda r: (
                r.status == "ok"
                and r.route is not None
                and r.route.strategy == "classifier"
                and "comit_message" in r.route.reason
            ),
        ),
        served("escaped-nul-in-content", text="FAULT-OK a\u0000b"),
        served(
            "content-blocks",
            messages=[{"role": "user", "content": [{"type": "text", "text": "FAULT-OK hi"}]}],
        ),
        # Fields the service does not know (the API's stream, a future one) are ignored.
        served("unknown-fields-ignored", stream=False, some_future_field={"x": 1}),
        served("key-is-not-the-request-id", key=b"some-other-key"),
        served("no-key", key=None),
    ]
